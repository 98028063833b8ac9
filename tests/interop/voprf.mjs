// Interop test of the VOPRF token types against a running ppissuer that
// serves them (--token-types 2,5,1), with clients that share no code with
// the issuer:
//  - @noble/curves' RFC 9497 VOPRF (ristretto255_oprf, p384_oprf) for types
//    0x0005 (draft-ietf-privacypass-batched-tokens) and 0x0001 (RFC 9578):
//    blind the RFC 9578 token input, get it evaluated, verify every proof
//    (noble's finalize throws on a bad proof), finalize, then redeem each
//    token at /redeem: 200, again 409, tampered 403;
//  - @cloudflare/privacypass-ts' private-verification client (type 0x0001,
//    its own VOPRF from @cloudflare/voprf-ts) for at least 10 tokens, each
//    redeemed the same way.
//
//   node voprf.mjs http://127.0.0.1:PORT [count]
//
// Prints one line per failed check and a closing line
// "voprf interop: N passed, M failed"; exits non-zero if anything failed.

import { createHash, randomBytes } from 'node:crypto';
import { ristretto255_oprf } from '@noble/curves/ed25519.js';
import { p384_oprf } from '@noble/curves/nist.js';
import { Token, TokenChallenge, TOKEN_TYPES, privateVerif } from '@cloudflare/privacypass-ts';

const DIRECTORY_PATH = '/.well-known/private-token-issuer-directory';
const REQUEST_TYPE = 'application/private-token-request';
const RESPONSE_TYPE = 'application/private-token-response';
const FETCH_TIMEOUT_MS = 10000;
const TS_TOKENS = 10; // privacypass-ts type-1 tokens, at least

// Sizes from RFC 9578 section 5 and draft-ietf-privacypass-batched-tokens.
const SUITES = [
  { type: 0x0005, oprf: ristretto255_oprf, ne: 32, ns: 32, nk: 64 },
  { type: 0x0001, oprf: p384_oprf, ne: 49, ns: 48, nk: 48 },
];

let passed = 0;
let failed = 0;

function pass() {
  passed += 1;
}

function errorText(err) {
  const cause = err && err.cause ? ` (${err.cause.code || err.cause.message})` : '';
  return `${err && err.message ? err.message : String(err)}${cause}`;
}

function fail(what, detail) {
  failed += 1;
  console.log(`FAIL ${what}: ${detail}`);
}

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

function b64url(bytes) {
  return Buffer.from(bytes).toString('base64url');
}

// RFC 9578 section 4: token-key is base64url with padding; insist on the
// canonical padded text (node's decoder is lenient).
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
  const res = await fetchWithTimeout(new URL(DIRECTORY_PATH, base));
  must(res.status === 200, `GET ${DIRECTORY_PATH} -> ${res.status}`);
  const dir = JSON.parse(await res.text());
  must(typeof dir['issuer-request-uri'] === 'string', 'directory lacks issuer-request-uri');
  must(Array.isArray(dir['token-keys']), 'directory has no token-keys');
  return dir;
}

async function postTokenRequest(url, body) {
  const res = await fetchWithTimeout(url, {
    method: 'POST',
    headers: { 'content-type': REQUEST_TYPE, accept: RESPONSE_TYPE },
    body,
  });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

async function redeem(base, tokenBytes) {
  const res = await fetchWithTimeout(new URL('/redeem', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: b64url(tokenBytes) }),
  });
  let body = null;
  try {
    body = JSON.parse(await res.text());
  } catch {
    body = null;
  }
  return { status: res.status, body };
}

// 200 with result valid, then 409; a copy with one flipped authenticator bit
// 403 (and its nonce flipped: another nonce, still not genuine).
async function checkRedemption(ctx, what, token) {
  const tampered = new Uint8Array(token);
  tampered[tampered.length - 1] ^= 0x01;
  let r = await redeem(ctx.base, tampered);
  if (r.status !== 403 || !r.body || r.body.result !== 'invalid') {
    fail(`${what} tampered`, `want 403 invalid, got ${r.status} ${JSON.stringify(r.body)}`);
  } else {
    pass();
  }
  r = await redeem(ctx.base, token);
  if (r.status !== 200 || !r.body || r.body.result !== 'valid' ||
      r.body.token_type !== ctx.type || r.body.token_key_id !== hex(ctx.keyId)) {
    fail(`${what} redeem`, `want 200 valid, got ${r.status} ${JSON.stringify(r.body)}`);
    return;
  }
  pass();
  r = await redeem(ctx.base, token);
  if (r.status !== 409) {
    fail(`${what} redeem again`, `want 409, got ${r.status} ${JSON.stringify(r.body)}`);
  } else {
    pass();
  }
}

// RFC 9578 token input: token_type(2) || nonce(32) || challenge_digest(32) ||
// token_key_id(32).
function tokenInput(type, nonce, challengeDigest, keyId) {
  const input = new Uint8Array(98);
  input[0] = type >> 8;
  input[1] = type & 0xff;
  input.set(nonce, 2);
  input.set(challengeDigest, 34);
  input.set(keyId, 66);
  return input;
}

// One token with noble's VOPRF client; throws on a transport, protocol or
// proof error.
async function nobleToken(ctx) {
  const s = ctx.suite;
  const input = tokenInput(s.type, new Uint8Array(randomBytes(32)), ctx.challengeDigest, ctx.keyId);
  const { blind, blinded } = s.oprf.voprf.blind(input);
  const req = new Uint8Array(3 + s.ne);
  req[0] = s.type >> 8;
  req[1] = s.type & 0xff;
  req[2] = ctx.keyId[31];
  req.set(blinded, 3);
  const { res, bytes } = await postTokenRequest(ctx.requestUrl, req);
  if (res.status !== 200 || mediaType(res) !== RESPONSE_TYPE || bytes.length !== s.ne + 2 * s.ns) {
    throw new Error(`bad token response: status ${res.status}, ${bytes.length} bytes, ` +
      `${Buffer.from(bytes.subarray(0, 120)).toString('latin1')}`);
  }
  const evaluated = bytes.subarray(0, s.ne);
  const proof = bytes.subarray(s.ne);
  // A proof with a flipped bit must be refused, or finalize checks nothing.
  const badProof = new Uint8Array(proof);
  badProof[badProof.length - 1] ^= 0x01;
  let refused = false;
  try {
    s.oprf.voprf.finalize(input, blind, evaluated, blinded, ctx.pk, badProof);
  } catch {
    refused = true;
  }
  if (!refused) {
    throw new Error('noble finalize accepted a tampered proof');
  }
  const out = s.oprf.voprf.finalize(input, blind, evaluated, blinded, ctx.pk, proof);
  if (out.length !== s.nk) {
    throw new Error(`output is ${out.length} bytes`);
  }
  const token = new Uint8Array(98 + s.nk);
  token.set(input, 0);
  token.set(out, 98);
  return token;
}

async function runNoble(ctx, count) {
  const seen = new Set();
  for (let i = 0; i < count; i += 1) {
    const what = `type ${ctx.type} noble token ${i}`;
    try {
      const token = await nobleToken(ctx);
      const auth = hex(token.subarray(98));
      if (seen.has(auth)) {
        fail(what, 'authenticator repeats an earlier token');
        continue;
      }
      seen.add(auth);
      pass(); // issued, proof verified, finalized
      await checkRedemption(ctx, what, token);
    } catch (err) {
      fail(what, errorText(err));
    }
  }
}

// Type 1 with privacypass-ts' private-verification client.
async function runPrivacypassTs(ctx, count) {
  const challenge = new TokenChallenge(ctx.type, ctx.base.host, new Uint8Array(randomBytes(32)),
    ['voprf.interop.example']);
  for (let i = 0; i < count; i += 1) {
    const what = `type 1 privacypass-ts token ${i}`;
    try {
      const client = new privateVerif.Client();
      const tokReq = await client.createTokenRequest(challenge, ctx.pk);
      const reqBytes = tokReq.serialize();
      must(reqBytes.length === 52 && reqBytes[2] === ctx.keyId[31],
        `library built a ${reqBytes.length}-byte request, truncated id ${reqBytes[2]}`);
      const { res, bytes } = await postTokenRequest(ctx.requestUrl, reqBytes);
      if (res.status !== 200 || bytes.length !== 145) {
        throw new Error(`bad token response: status ${res.status}, ${bytes.length} bytes`);
      }
      const token = await client.finalize(client.deserializeTokenResponse(bytes));
      const wire = token.serialize();
      const parsed = Token.deserialize(TOKEN_TYPES.VOPRF, wire);
      if (wire.length !== 146 || !Buffer.from(parsed.authInput.tokenKeyId).equals(Buffer.from(ctx.keyId)) ||
          !Buffer.from(parsed.authInput.challengeDigest).equals(Buffer.from(sha256(challenge.serialize())))) {
        fail(what, `token ${wire.length} bytes or wrong key id / challenge digest`);
        continue;
      }
      pass();
      await checkRedemption(ctx, what, wire);
    } catch (err) {
      fail(what, errorText(err));
    }
  }
}

async function main() {
  const base = process.argv[2];
  const count = Number(process.argv[3] || 20);
  if (!base || !Number.isInteger(count) || count < 1) {
    console.error('usage: node voprf.mjs http://HOST:PORT [count]');
    process.exit(2);
  }
  const baseUrl = new URL(base);
  const dir = await getDirectory(baseUrl);
  const requestUrl = new URL(dir['issuer-request-uri'], baseUrl);

  for (const suite of SUITES) {
    const entries = dir['token-keys'].filter((k) => k['token-type'] === suite.type);
    must(entries.length >= 1, `directory lists no key of type ${suite.type}`);
    const pk = decodePaddedBase64url(entries[0]['token-key']);
    must(pk.length === suite.ne, `type ${suite.type} token-key is ${pk.length} bytes, want ${suite.ne}`);
    // the challenge an origin would send for this type
    const challenge = new TokenChallenge(suite.type, baseUrl.host, new Uint8Array(0)).serialize();
    const ctx = {
      base: baseUrl,
      requestUrl,
      suite,
      type: suite.type,
      pk,
      keyId: sha256(pk),
      challengeDigest: sha256(challenge),
    };
    console.log(`type ${suite.type} (${suite.oprf.name}): key id ${hex(ctx.keyId)}`);
    await runNoble(ctx, count);
    if (suite.type === 0x0001) {
      await runPrivacypassTs(ctx, Math.max(TS_TOKENS, Math.min(count, 20)));
    }
  }
}

try {
  await main();
} catch (err) {
  fail('setup', err instanceof Fatal || err.cause ? errorText(err) : (err.stack || String(err)));
}
console.log(`voprf interop: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
