// Interop test of batched issuance (draft-ietf-privacypass-batched-tokens-07)
// against a running ppissuer that serves types 2, 5 and 1:
//  - generic batches of type 0x0002 built, parsed and finalized with
//    @cloudflare/privacypass-ts (genericBatched + publicVerif): one of 1, one
//    of `count` (at most 100) and GENERIC_ROUNDS of GENERIC_SIZE; every token
//    finalizes, verifies (re-read from its bytes, Origin.verify against the
//    published key) and redeems once (200, then 409);
//  - amortized batches of Nr = 1, 10, 100 for types 0x0005 and 0x0001 with
//    @noble/curves' VOPRF (finalizeBatch checks the one proof): every token
//    redeems once (200, then 409).
//
//   node batch.mjs http://127.0.0.1:PORT [count]
//
// Prints one line per failed check and "batch interop: N passed, M failed";
// exits non-zero if anything failed.

import { createHash, randomBytes } from 'node:crypto';
import { ristretto255_oprf } from '@noble/curves/ed25519.js';
import { p384_oprf } from '@noble/curves/nist.js';
import { Token, TOKEN_TYPES, genericBatched, publicVerif } from '@cloudflare/privacypass-ts';

const DIRECTORY_PATH = '/.well-known/private-token-issuer-directory';
const GENERIC_REQ = 'application/private-token-generic-batch-request';
const GENERIC_RESP = 'application/private-token-generic-batch-response';
const AMORTIZED_REQ = 'application/private-token-amortized-batch-request';
const AMORTIZED_RESP = 'application/private-token-amortized-batch-response';
const FETCH_TIMEOUT_MS = 30000;
const MODE = publicVerif.BlindRSAMode.PSS;
const SUITES = [
  { type: 0x0005, oprf: ristretto255_oprf, ne: 32, ns: 32, nk: 64 },
  { type: 0x0001, oprf: p384_oprf, ne: 49, ns: 48, nk: 48 },
];
const AMORTIZED_SIZES = [1, 10, 100];
// Generic batches of 10, this many (privacypass-ts blinds a type-2 request
// in about 40-90 ms here: 100 tokens take several seconds).
const GENERIC_ROUNDS = 10;
const GENERIC_SIZE = 10;

let passed = 0;
let failed = 0;

function fail(what, detail) {
  failed += 1;
  console.log(`FAIL ${what}: ${detail}`);
}

function sha256(bytes) {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

function hex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

function mediaType(res) {
  return (res.headers.get('content-type') || '').split(';')[0].trim().toLowerCase();
}

async function post(url, type, accept, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': type, accept },
    body,
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
}

async function redeem(base, token) {
  const res = await fetch(new URL('/redeem', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: Buffer.from(token).toString('base64url') }),
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  await res.arrayBuffer();
  return res.status;
}

// 200, then 409; true when so.
async function redeemOnce(base, what, token) {
  const first = await redeem(base, token);
  const second = await redeem(base, token);
  if (first !== 200 || second !== 409) {
    fail(what, `redeemed ${first} then ${second}, want 200 then 409`);
    return false;
  }
  passed += 1;
  return true;
}

function keyOf(dir, type) {
  const k = dir['token-keys'].find((e) => e['token-type'] === type);
  if (!k) {
    throw new Error(`no key of type ${type} in the directory`);
  }
  return new Uint8Array(Buffer.from(k['token-key'], 'base64url'));
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

// The token as a redeemer sees it: re-read from its bytes, bound to the
// published key, and verified with privacypass-ts over that key.
async function checkGenericToken(ctx, wire) {
  const parsed = Token.deserialize(TOKEN_TYPES.BLIND_RSA, wire);
  if (!sameBytes(parsed.authInput.tokenKeyId, ctx.keyId2)) {
    return `token_key_id ${hex(parsed.authInput.tokenKeyId)} is not the published key's`;
  }
  if (!(await ctx.origin.verify(parsed, ctx.cryptoKey2))) {
    return 'Origin.verify rejected the token';
  }
  return null;
}

// A generic batch of n type-2 requests through privacypass-ts. Returns how
// many of its tokens verified and redeemed once. The tokens are redeemed
// side by side (each 200, then 409): one after another, every redemption
// would wait for its own group commit's fdatasync.
async function genericRound(ctx, n, label = `generic batch of ${n}`) {
  const verified = [];
  const clients = [];
  const reqs = [];
  for (let i = 0; i < n; i += 1) {
    const c = new publicVerif.Client(MODE);
    const tr = await c.createTokenRequest(ctx.challenge, ctx.pk2);
    clients.push(c);
    reqs.push(new genericBatched.TokenRequest(tr));
  }
  const batch = new genericBatched.Client().createTokenRequest(reqs);
  const { res, bytes } = await post(ctx.requestUrl, GENERIC_REQ, GENERIC_RESP, batch.serialize());
  if (res.status !== 200 || mediaType(res) !== GENERIC_RESP) {
    fail(label, `status ${res.status}, ${mediaType(res)}: ` +
      Buffer.from(bytes.subarray(0, 200)).toString('latin1'));
    return 0;
  }
  const parsed = new genericBatched.Client().deserializeTokenResponse(bytes);
  if (parsed.tokenResponses.length !== n) {
    fail(label, `${parsed.tokenResponses.length} responses`);
    return 0;
  }
  for (let i = 0; i < n; i += 1) {
    const tr = parsed.tokenResponses[i].tokenResponse;
    if (!tr) {
      fail(label, `item ${i} not issued`);
      continue;
    }
    let token;
    try {
      token = await clients[i].finalize(tr);
    } catch (err) {
      fail(label, `item ${i} does not finalize: ${err.message}`);
      continue;
    }
    const wire = token.serialize();
    const bad = await checkGenericToken(ctx, wire);
    if (bad) {
      fail(label, `item ${i}: ${bad}`);
      continue;
    }
    passed += 1;
    verified.push({ i, wire });
  }
  const redeemed = await Promise.all(verified.map(({ i, wire }) =>
    redeemOnce(ctx.base, `${label} item ${i}`, wire)));
  return redeemed.filter(Boolean).length;
}

function tokenInput(type, nonce, digest, keyId) {
  const input = new Uint8Array(98);
  input[0] = type >> 8;
  input[1] = type & 0xff;
  input.set(nonce, 2);
  input.set(digest, 34);
  input.set(keyId, 66);
  return input;
}

// QUIC varint, minimal.
function varint(v) {
  if (v < 64) return Uint8Array.of(v);
  if (v < 16384) return Uint8Array.of(0x40 | (v >> 8), v & 0xff);
  return Uint8Array.of(0x80 | (v >>> 24), (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
}

function readVarint(b) {
  const len = 1 << (b[0] >> 6);
  let v = b[0] & 0x3f;
  for (let i = 1; i < len; i += 1) v = v * 256 + b[i];
  return { v, len };
}

async function amortizedRound(ctx, s, n) {
  const pk = keyOf(ctx.dir, s.type);
  const keyId = sha256(pk);
  const digest = sha256(randomBytes(32)); // any challenge digest binds
  const items = [];
  const prefix = varint(n * s.ne);
  const body = new Uint8Array(3 + prefix.length + n * s.ne);
  body[0] = s.type >> 8;
  body[1] = s.type & 0xff;
  body[2] = keyId[31];
  body.set(prefix, 3);
  for (let i = 0; i < n; i += 1) {
    const input = tokenInput(s.type, new Uint8Array(randomBytes(32)), digest, keyId);
    const { blind, blinded } = s.oprf.voprf.blind(input);
    items.push({ input, blind, blinded });
    body.set(blinded, 3 + prefix.length + i * s.ne);
  }
  const what = `amortized type ${s.type} Nr=${n}`;
  const { res, bytes } = await post(ctx.requestUrl, AMORTIZED_REQ, AMORTIZED_RESP, body);
  if (res.status !== 200 || mediaType(res) !== AMORTIZED_RESP) {
    fail(what, `status ${res.status}, ${mediaType(res)}: ` +
      Buffer.from(bytes.subarray(0, 200)).toString('latin1'));
    return;
  }
  const { v, len } = readVarint(bytes);
  if (v !== n * s.ne || bytes.length !== len + v + 2 * s.ns) {
    fail(what, `response of ${bytes.length} bytes, prefix ${v}`);
    return;
  }
  const proof = bytes.subarray(len + v);
  const fin = items.map((it, i) => ({
    input: it.input,
    blind: it.blind,
    blinded: it.blinded,
    evaluated: bytes.subarray(len + i * s.ne, len + (i + 1) * s.ne),
  }));
  const bad = new Uint8Array(proof);
  bad[bad.length - 1] ^= 1;
  let refused = false;
  try {
    s.oprf.voprf.finalizeBatch(fin, pk, bad);
  } catch {
    refused = true;
  }
  if (!refused) {
    fail(what, 'noble accepted a tampered batch proof');
    return;
  }
  let outs;
  try {
    outs = s.oprf.voprf.finalizeBatch(fin, pk, proof);
  } catch (err) {
    fail(what, `the batch proof does not verify: ${err.message}`);
    return;
  }
  passed += 1;
  for (let i = 0; i < n; i += 1) {
    const token = new Uint8Array(98 + s.nk);
    token.set(items[i].input, 0);
    token.set(outs[i], 98);
    await redeemOnce(ctx.base, `${what} token ${i}`, token);
  }
}

async function main() {
  const base = process.argv[2];
  const count = Number(process.argv[3] || 20);
  if (!base) {
    console.error('usage: node batch.mjs http://HOST:PORT [count]');
    process.exit(2);
  }
  const baseUrl = new URL(base);
  const dres = await fetch(new URL(DIRECTORY_PATH, baseUrl));
  const dir = JSON.parse(await dres.text());
  const pk2 = keyOf(dir, 2);
  const origin = new publicVerif.Origin(MODE, ['batch.interop.example']);
  // WebCrypto cannot import the RSASSA-PSS OID; the library converts it.
  const cryptoKey2 = await crypto.subtle.importKey('spki',
    publicVerif.convertRSASSAPSSToEnc(pk2), TOKEN_TYPES.BLIND_RSA.rsaParams, true, ['verify']);
  const ctx = {
    base: baseUrl,
    dir,
    requestUrl: new URL(dir['issuer-request-uri'], baseUrl),
    pk2,
    keyId2: sha256(pk2),
    cryptoKey2,
    origin,
    challenge: origin.createTokenChallenge(baseUrl.host, new Uint8Array(randomBytes(32))),
  };
  console.log(`batch interop: issuer ${baseUrl.host}, type-2 key ${hex(sha256(pk2))}`);
  for (const n of [1, Math.max(2, Math.min(count, 100))]) {
    await genericRound(ctx, n);
  }
  let good = 0;
  for (let r = 1; r <= GENERIC_ROUNDS; r += 1) {
    good += await genericRound(ctx, GENERIC_SIZE,
      `generic batch ${r}/${GENERIC_ROUNDS} of ${GENERIC_SIZE}`);
  }
  console.log(`batch interop: ${GENERIC_ROUNDS} generic batches of ${GENERIC_SIZE}: ` +
    `${good} of ${GENERIC_ROUNDS * GENERIC_SIZE} tokens verified, redeemed once (200) and again (409)`);
  for (const s of SUITES) {
    for (const n of AMORTIZED_SIZES) {
      await amortizedRound(ctx, s, n);
    }
  }
  console.log(`batch interop: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main().catch((err) => {
  console.log(`FAIL batch interop: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
