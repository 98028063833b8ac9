// Container smoke client: fetch the issuer directory from a running ppissuer,
// have one token issued with an independent client
// (@cloudflare/privacypass-ts, installed under tests/interop), and verify it
// against the published key.
//
//   PP_BEARER=<attester secret> node token.mjs http://HOST:PORT
//
// With PP_BEARER set, a request without credentials must be refused first
// (401 or 403), then the request with "Authorization: Bearer" must succeed.
// Prints one line per check and "container-token: N passed, M failed";
// exits 0 only if every check passed.

import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const DIRECTORY_PATH = '/.well-known/private-token-issuer-directory';
const DIRECTORY_TYPE = 'application/private-token-issuer-directory';
const REQUEST_TYPE = 'application/private-token-request';
const RESPONSE_TYPE = 'application/private-token-response';
const TOKEN_TYPE_BLIND_RSA = 0x0002;
const TOKEN_REQUEST_LEN = 259;
const NK = 256;
const FETCH_TIMEOUT_MS = 10000;

// The library lives in the interop test's node_modules; ESM resolution does
// not look there from this directory, so resolve it from that package.
const requireInterop = createRequire(new URL('../interop/package.json', import.meta.url));
const { TOKEN_TYPES, Token, publicVerif } = await import(
  pathToFileURL(requireInterop.resolve('@cloudflare/privacypass-ts')).href);

const MODE = publicVerif.BlindRSAMode.PSS;

let passed = 0;
let failed = 0;

function check(what, ok, detail) {
  if (ok) {
    passed += 1;
    console.log(`ok   ${what}`);
  } else {
    failed += 1;
    console.log(`FAIL ${what}: ${detail}`);
  }
  return ok;
}

function errorText(err) {
  const cause = err && err.cause ? ` (${err.cause.code || err.cause.message})` : '';
  return `${err && err.message ? err.message : String(err)}${cause}`;
}

function mediaType(res) {
  return (res.headers.get('content-type') || '').split(';')[0].trim().toLowerCase();
}

function describe(res, bytes) {
  const text = Buffer.from(bytes.subarray(0, 160)).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return `status ${res.status}, content-type ${JSON.stringify(res.headers.get('content-type'))}, `
    + `${bytes.length} bytes: ${JSON.stringify(text)}`;
}

async function fetchBytes(url, init = {}) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

async function postRequest(url, body, bearer) {
  const headers = { 'content-type': REQUEST_TYPE, accept: RESPONSE_TYPE };
  if (bearer) {
    headers.authorization = `Bearer ${bearer}`;
  }
  return fetchBytes(url, { method: 'POST', headers, body });
}

async function main() {
  const base = process.argv[2];
  if (!base) {
    console.error('usage: [PP_BEARER=secret] node token.mjs http://HOST:PORT');
    process.exit(2);
  }
  const baseUrl = new URL(base);
  const bearer = process.env.PP_BEARER || '';

  const { res: dres, bytes: dbytes } = await fetchBytes(new URL(DIRECTORY_PATH, baseUrl),
    { headers: { accept: DIRECTORY_TYPE } });
  if (!check('directory', dres.status === 200 && mediaType(dres) === DIRECTORY_TYPE,
    describe(dres, dbytes))) {
    return;
  }
  const dir = JSON.parse(Buffer.from(dbytes).toString('utf8'));
  const key = (dir['token-keys'] || []).find((k) => k['token-type'] === TOKEN_TYPE_BLIND_RSA);
  if (!check('directory lists a type-2 key', key && typeof dir['issuer-request-uri'] === 'string',
    JSON.stringify(dir).slice(0, 200))) {
    return;
  }
  const pkBytes = new Uint8Array(Buffer.from(key['token-key'], 'base64url'));
  const requestUrl = new URL(dir['issuer-request-uri'], baseUrl);

  const origin = new publicVerif.Origin(MODE, ['container.example']);
  const challenge = origin.createTokenChallenge(baseUrl.host, new Uint8Array(randomBytes(32)));
  const client = new publicVerif.Client(MODE);
  const tokReq = await client.createTokenRequest(challenge, pkBytes);
  const reqBytes = tokReq.serialize();
  check('TokenRequest size', reqBytes.length === TOKEN_REQUEST_LEN, `${reqBytes.length} bytes`);

  if (bearer) {
    const { res, bytes } = await postRequest(requestUrl, reqBytes, '');
    check('request without credentials refused', res.status === 401 || res.status === 403,
      describe(res, bytes));
    const { res: wres, bytes: wbytes } = await postRequest(requestUrl, reqBytes, `x${bearer}`);
    check('request with a wrong secret refused', wres.status === 401 || wres.status === 403,
      describe(wres, wbytes));
  }

  const { res, bytes } = await postRequest(requestUrl, reqBytes, bearer);
  if (!check('token issued', res.status === 200 && mediaType(res) === RESPONSE_TYPE
    && bytes.length === NK, describe(res, bytes))) {
    return;
  }
  const token = await client.finalize(client.deserializeTokenResponse(bytes));
  const parsed = Token.deserialize(TOKEN_TYPES.BLIND_RSA, token.serialize());
  const spki = publicVerif.convertRSASSAPSSToEnc(pkBytes);
  const cryptoKey = await globalThis.crypto.subtle.importKey('spki', spki,
    TOKEN_TYPES.BLIND_RSA.rsaParams, true, ['verify']);
  check('token verifies against the published key', await origin.verify(parsed, cryptoKey),
    'Origin.verify rejected the token');
}

try {
  await main();
} catch (err) {
  check('setup', false, errorText(err));
}
console.log(`container-token: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
