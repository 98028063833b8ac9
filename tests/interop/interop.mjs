// Interop test: issue type-2 (Blind RSA) tokens from a running ppissuer with
// an independent client, Cloudflare's @cloudflare/privacypass-ts, and verify
// every token with that library against the key the issuer publishes.
//
//   node interop.mjs http://127.0.0.1:PORT [count]
//
// Prints one line per failed check and a closing line
// "interop: N passed, M failed"; exits non-zero if anything failed.

import {
  constants as cryptoConstants,
  createHash,
  createPublicKey,
  randomBytes,
  verify as nodeVerify,
} from 'node:crypto';
import { Token, TOKEN_TYPES, publicVerif } from '@cloudflare/privacypass-ts';

const DIRECTORY_PATH = '/.well-known/private-token-issuer-directory';
const DIRECTORY_TYPE = 'application/private-token-issuer-directory';
const REQUEST_TYPE = 'application/private-token-request';
const RESPONSE_TYPE = 'application/private-token-response';
const TOKEN_TYPE_BLIND_RSA = 0x0002;
const NK = 256; // RSA-2048 modulus bytes
const TOKEN_REQUEST_LEN = 2 + 1 + NK;
const TOKEN_LEN = 2 + 32 + 32 + 32 + NK;
const MIN_TOKENS = 50;
const FETCH_TIMEOUT_MS = 10000;
const ORIGIN_INFO = ['interop.example', 'second.interop.example'];

const MODE = publicVerif.BlindRSAMode.PSS; // RSABSSA-SHA384-PSS-Deterministic
const subtle = globalThis.crypto.subtle;

let passed = 0;
let failed = 0;

function pass() {
  passed += 1;
}

// fetch() reports "fetch failed" and hides the reason in err.cause.
function errorText(err) {
  const cause = err && err.cause ? ` (${err.cause.code || err.cause.message})` : '';
  return `${err && err.message ? err.message : String(err)}${cause}`;
}

function fail(what, detail) {
  failed += 1;
  console.log(`FAIL ${what}: ${detail}`);
}

// Thrown for a broken precondition: later checks would be meaningless.
class Fatal extends Error {}

function must(cond, msg) {
  if (!cond) {
    throw new Fatal(msg);
  }
}

function hex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

function sha256(bytes) {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

function sameBytes(a, b) {
  return Buffer.from(a).equals(Buffer.from(b));
}

// RFC 9578 section 4: token-key is base64url *with* padding.  Node's decoder
// is lenient (skips junk, accepts missing padding), so insist that the text
// is exactly the padded encoding of what it decodes to.
function decodePaddedBase64url(text) {
  must(typeof text === 'string' && /^[A-Za-z0-9_-]*={0,2}$/.test(text),
    `token-key is not base64url text: ${JSON.stringify(text).slice(0, 80)}`);
  const bytes = Buffer.from(text, 'base64url');
  const canonical = bytes.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
  must(canonical === text, 'token-key is not canonical padded base64url');
  return new Uint8Array(bytes);
}

async function fetchWithTimeout(url, init = {}) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
}

function mediaType(res) {
  return (res.headers.get('content-type') || '').split(';')[0].trim().toLowerCase();
}

async function getDirectory(base) {
  const url = new URL(DIRECTORY_PATH, base);
  const res = await fetchWithTimeout(url, { headers: { accept: DIRECTORY_TYPE } });
  must(res.status === 200, `GET ${url.pathname} -> ${res.status}`);
  must(mediaType(res) === DIRECTORY_TYPE,
    `directory content-type is ${JSON.stringify(res.headers.get('content-type'))}`);
  const dir = JSON.parse(await res.text());
  must(typeof dir['issuer-request-uri'] === 'string', 'directory lacks issuer-request-uri');
  must(Array.isArray(dir['token-keys']) && dir['token-keys'].length > 0,
    'directory has no token-keys');
  return dir;
}

// The published key must be the RFC 9578 RSASSA-PSS SPKI of a 2048-bit key
// with SHA-384 / MGF1-SHA-384 / salt 48.  Node parses it independently of
// privacypass-ts, which checks that the parameters are really encoded.
function checkPublishedKey(pkBytes) {
  const key = createPublicKey({ key: Buffer.from(pkBytes), format: 'der', type: 'spki' });
  const d = key.asymmetricKeyDetails || {};
  must(key.asymmetricKeyType === 'rsa-pss',
    `token-key algorithm is ${key.asymmetricKeyType}, want rsa-pss (RSASSA-PSS OID)`);
  must(d.modulusLength === 2048, `token-key modulus is ${d.modulusLength} bits`);
  must(d.publicExponent === 65537n, `token-key exponent is ${d.publicExponent}`);
  must(d.hashAlgorithm === 'sha384' && d.mgf1HashAlgorithm === 'sha384' && d.saltLength === 48,
    `token-key PSS params are ${d.hashAlgorithm}/${d.mgf1HashAlgorithm}/${d.saltLength}`);
  return key;
}

// WebCrypto cannot import the RSASSA-PSS OID; the library converts it.
async function importForLibrary(pkBytes) {
  const spki = publicVerif.convertRSASSAPSSToEnc(pkBytes);
  return subtle.importKey('spki', spki, TOKEN_TYPES.BLIND_RSA.rsaParams, true, ['verify']);
}

async function postTokenRequest(requestUrl, body, contentType = REQUEST_TYPE) {
  const res = await fetchWithTimeout(requestUrl, {
    method: 'POST',
    headers: { 'content-type': contentType, accept: RESPONSE_TYPE },
    body,
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { res, bytes };
}

function describeBody(res, bytes) {
  const type = res.headers.get('content-type');
  const head = Buffer.from(bytes.subarray(0, 200));
  const printable = head.every((c) => c === 0x0a || c === 0x09 || (c >= 0x20 && c < 0x7f));
  const shown = printable ? JSON.stringify(head.toString('latin1')) : `hex ${head.subarray(0, 32).toString('hex')}...`;
  return `status ${res.status}, content-type ${JSON.stringify(type)}, ${bytes.length} bytes: ${shown}`;
}

// One full issuance with the library's client.  Returns the pieces the
// caller checks; throws on a transport or protocol error.
async function issueOne(ctx) {
  const client = new publicVerif.Client(MODE);
  const tokReq = await client.createTokenRequest(ctx.challenge, ctx.pkBytes);
  const reqBytes = tokReq.serialize();
  if (reqBytes.length !== TOKEN_REQUEST_LEN) {
    throw new Error(`library built a ${reqBytes.length}-byte TokenRequest`);
  }
  if (reqBytes[2] !== ctx.keyId[31]) {
    throw new Error(`truncated key id 0x${hex([reqBytes[2]])} != last byte of key id`);
  }
  const { res, bytes } = await postTokenRequest(ctx.requestUrl, reqBytes);
  if (res.status !== 200 || mediaType(res) !== RESPONSE_TYPE || bytes.length !== NK) {
    throw new Error(`bad token response: ${describeBody(res, bytes)}`);
  }
  return { client, reqBytes, respBytes: bytes };
}

async function checkToken(ctx, token) {
  const wire = token.serialize();
  if (wire.length !== TOKEN_LEN) {
    return `token is ${wire.length} bytes`;
  }
  // Verify what a redeemer would see: the token re-parsed from its bytes.
  const parsed = Token.deserialize(TOKEN_TYPES.BLIND_RSA, wire);
  const ai = parsed.authInput;
  if (ai.tokenType !== TOKEN_TYPE_BLIND_RSA) {
    return `token_type ${ai.tokenType}`;
  }
  if (!sameBytes(ai.tokenKeyId, ctx.keyId)) {
    return `token_key_id ${hex(ai.tokenKeyId)} != SHA-256(token-key) ${hex(ctx.keyId)}`;
  }
  if (!sameBytes(ai.challengeDigest, ctx.challengeDigest)) {
    return 'challenge_digest does not match the challenge';
  }
  if (!(await ctx.origin.verify(parsed, ctx.cryptoKey))) {
    return 'privacypass-ts Origin.verify rejected the token';
  }
  // Second opinion from node's own RSASSA-PSS verify over the published key.
  const ok = nodeVerify('sha384', ai.serialize(), {
    key: ctx.nodeKey,
    padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
    saltLength: 48,
  }, parsed.authenticator);
  if (!ok) {
    return 'node crypto.verify rejected the authenticator';
  }
  return null;
}

async function runIssuance(ctx, count) {
  const seen = new Set();
  for (let i = 0; i < count; i += 1) {
    try {
      const { client, respBytes } = await issueOne(ctx);
      const token = await client.finalize(client.deserializeTokenResponse(respBytes));
      const why = await checkToken(ctx, token);
      const auth = hex(token.authenticator);
      if (why) {
        fail(`token ${i}`, why);
      } else if (seen.has(auth)) {
        fail(`token ${i}`, 'authenticator repeats an earlier token');
      } else {
        seen.add(auth);
        pass();
      }
    } catch (err) {
      fail(`token ${i}`, errorText(err));
    }
  }
}

// A response with one flipped byte must not finalize (RFC 9474 Finalize
// verifies the unblinded signature); the untouched response must still
// finalize afterwards, so the failure is down to the flipped byte.
async function checkTamperedResponse(ctx) {
  const { client, respBytes } = await issueOne(ctx);
  const bad = new Uint8Array(respBytes);
  const at = randomBytes(1)[0] % NK;
  bad[at] ^= 1 << (randomBytes(1)[0] % 8);
  try {
    await client.finalize(client.deserializeTokenResponse(bad));
    fail('tampered response', `finalize accepted a response with byte ${at} flipped`);
    return;
  } catch {
    // expected
  }
  const token = await client.finalize(client.deserializeTokenResponse(respBytes));
  const why = await checkToken(ctx, token);
  if (why) {
    fail('tampered response', `untouched response then failed: ${why}`);
    return;
  }
  pass();

  // A verifier that accepts everything would pass the issuance loop too.
  const wire = token.serialize();
  const fields = [['nonce', 2], ['key id', 66], ['authenticator', TOKEN_LEN - 1]];
  for (const [name, off] of fields) {
    const t = new Uint8Array(wire);
    t[off] ^= 0x80;
    const parsed = Token.deserialize(TOKEN_TYPES.BLIND_RSA, t);
    if (await ctx.origin.verify(parsed, ctx.cryptoKey)) {
      fail('tampered token', `verify accepted a token with its ${name} altered`);
    } else {
      pass();
    }
  }
}

// Malformed TokenRequests must be refused with 4xx and a JSON body.
async function checkRejections(ctx, knownTruncIds) {
  const { reqBytes } = await issueOne(ctx);
  let unknownId = 0;
  while (knownTruncIds.has(unknownId)) {
    unknownId += 1;
  }
  const wrongType = new Uint8Array(reqBytes);
  wrongType[1] = 0x01;
  const wrongKey = new Uint8Array(reqBytes);
  wrongKey[2] = unknownId;
  // All-ones exceeds any 2048-bit modulus: RFC 9474 BlindSign must refuse it.
  const tooBig = new Uint8Array(reqBytes);
  tooBig.fill(0xff, 3);
  const cases = [
    ['token_type 0x0001', wrongType],
    ['blinded_msg >= modulus', tooBig],
    ['unknown truncated key id', wrongKey],
    ['short body', reqBytes.subarray(0, TOKEN_REQUEST_LEN - 1)],
    ['long body', Buffer.concat([reqBytes, Buffer.from([0])])],
    ['empty body', new Uint8Array(0)],
  ];
  for (const [name, body] of cases) {
    let res;
    let bytes;
    try {
      ({ res, bytes } = await postTokenRequest(ctx.requestUrl, body));
    } catch (err) {
      fail(`reject ${name}`, errorText(err));
      continue;
    }
    let json = false;
    try {
      JSON.parse(Buffer.from(bytes).toString('utf8'));
      json = /^application\/([a-z0-9.+-]+\+)?json$/.test(mediaType(res));
    } catch {
      json = false;
    }
    if (res.status >= 400 && res.status < 500 && json) {
      pass();
    } else {
      fail(`reject ${name}`, `want 4xx with a JSON body, got ${describeBody(res, bytes)}`);
    }
  }
}

async function main() {
  const base = process.argv[2];
  const count = Number(process.argv[3] || MIN_TOKENS);
  if (!base || !Number.isInteger(count) || count < 1) {
    console.error('usage: node interop.mjs http://HOST:PORT [count]');
    process.exit(2);
  }
  const baseUrl = new URL(base);

  const dir = await getDirectory(baseUrl);
  const first = dir['token-keys'][0];
  must(first['token-type'] === TOKEN_TYPE_BLIND_RSA,
    `first token-key has token-type ${first['token-type']}`);
  must(Number.isInteger(first['not-before']) || first['not-before'] === undefined,
    `not-before is ${JSON.stringify(first['not-before'])}`);
  const pkBytes = decodePaddedBase64url(first['token-key']);
  const nodeKey = checkPublishedKey(pkBytes);

  const knownTruncIds = new Set();
  for (const k of dir['token-keys']) {
    if (k['token-type'] === TOKEN_TYPE_BLIND_RSA && typeof k['token-key'] === 'string') {
      knownTruncIds.add(sha256(decodePaddedBase64url(k['token-key']))[31]);
    }
  }

  // The challenge an origin would send, naming this issuer by host:port.
  const origin = new publicVerif.Origin(MODE, ORIGIN_INFO);
  const challenge = origin.createTokenChallenge(baseUrl.host, new Uint8Array(randomBytes(32)));
  const ctx = {
    requestUrl: new URL(dir['issuer-request-uri'], baseUrl),
    pkBytes,
    nodeKey,
    keyId: sha256(pkBytes),
    cryptoKey: await importForLibrary(pkBytes),
    origin,
    challenge,
    challengeDigest: sha256(challenge.serialize()),
  };
  console.log(`issuer ${baseUrl.host}, request uri ${ctx.requestUrl.pathname}, key id ${hex(ctx.keyId)}`);

  await runIssuance(ctx, count);
  await checkTamperedResponse(ctx).catch((err) => fail('tampered response', errorText(err)));
  await checkRejections(ctx, knownTruncIds).catch((err) => fail('rejections', errorText(err)));
}

try {
  await main();
} catch (err) {
  fail('setup', err instanceof Fatal || err.cause ? errorText(err) : (err.stack || String(err)));
}
console.log(`interop: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
