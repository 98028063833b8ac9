// Interop test of token type 0xDA7A (public metadata, partially blind RSA):
// Cloudflare's @cloudflare/privacypass-ts (ClientWithMetadata,
// OriginWithMetadata) gets tokens bound to an expiration extension from a
// real ppissuer, verifies them, and ppissuer's /redeem accepts each once
// with its extensions and refuses it with altered ones. Every other token is
// redeemed through a forwarded Authorization header carrying extensions=
// (draft-ietf-privacypass-auth-scheme-extensions), which privacypass-ts's
// own AuthorizationHeader parser reads back first.
//
//   PP_BIN=/abs/path/ppissuer node da7a.mjs [count]
//
// Starts its own server (the committed safe-prime key imported first, so no
// prime search), serving 2,0xDA7A. Prints one line per failed check and
// "interop da7a: N passed, M failed"; exits non-zero if anything failed.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AuthorizationHeader, Extension, Extensions, Token, TOKEN_TYPES, publicVerif,
} from '@cloudflare/privacypass-ts';

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.PP_BIN || join(here, '../../build/bin/ppissuer');
const keyFile = join(here, '../data/keys/pbrsa-safe2048.pem');
const count = Math.max(20, Number(process.argv[2] || 24));
const TYPE = 0xda7a;
const MODE = publicVerif.PartiallyBlindRSAMode.PSS;
const EXPIRATION = 0x0001;

let passed = 0;
let failed = 0;
const pass = () => { passed += 1; };
function fail(what, detail) {
  failed += 1;
  console.log(`FAIL da7a ${what}: ${detail}`);
}

// struct { uint64 precision; uint64 timestamp; }: one expiration extension.
function expiration(precision, timestamp) {
  const data = new Uint8Array(16);
  const v = new DataView(data.buffer);
  v.setBigUint64(0, BigInt(precision));
  v.setBigUint64(8, BigInt(timestamp));
  return new Extensions([new Extension(EXPIRATION, data)]);
}

function b64url(bytes) {
  return Buffer.from(bytes).toString('base64url');
}

async function startServer(dataDir) {
  const imp = spawnSync(bin, ['keys', 'import', '--type', '0xDA7A', keyFile,
    '--data-dir', dataDir], { encoding: 'utf8' });
  if (imp.status !== 0) {
    throw new Error(`keys import failed: ${imp.stdout}${imp.stderr}`);
  }
  const env = Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => !k.startsWith('PPISSUER_')));
  const srv = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir,
    '--token-types', '2,0xDA7A', '--log-requests', 'false'],
  { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port in 15 s: ${log}`)), 15000);
    srv.stderr.on('data', (d) => {
      log += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    srv.on('exit', (code) => reject(new Error(`server exited ${code}: ${log}`)));
  });
  return { srv, base: `http://127.0.0.1:${port}`, log: () => log };
}

async function stopServer(s) {
  const code = await new Promise((resolve) => {
    const timer = setTimeout(() => { s.srv.kill('SIGKILL'); resolve(-1); }, 10000);
    s.srv.removeAllListeners('exit');
    s.srv.on('exit', (c) => { clearTimeout(timer); resolve(c); });
    s.srv.kill('SIGTERM');
  });
  if (code === 0) pass(); else fail('shutdown', `exit status ${code} after SIGTERM`);
}

// The header an origin forwards: token= and extensions=, both padded
// base64url as the draft asks.
function authorization(token, ext) {
  const pad = (b) => Buffer.from(b).toString('base64').replaceAll('+', '-').replaceAll('/', '_');
  return `PrivateToken token="${pad(token.serialize())}", extensions="${pad(ext.serialize())}"`;
}

async function redeem(base, token, ext, viaHeader = false) {
  const body = viaHeader && ext ? { authorization: authorization(token, ext) }
    : { token: b64url(token.serialize()) };
  if (ext && !viaHeader) body.extensions = b64url(ext.serialize());
  const res = await fetch(new URL('/redeem', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), 'pp-da7a-'));
  let s;
  try {
    s = await startServer(join(tmp, 'data'));
    const dir = await (await fetch(new URL('/.well-known/private-token-issuer-directory', s.base))).json();
    const entry = dir['token-keys'].find((k) => k['token-type'] === TYPE);
    if (!entry) throw new Error(`no 0xDA7A key in the directory: ${JSON.stringify(dir)}`);
    const pkBytes = new Uint8Array(Buffer.from(entry['token-key'], 'base64url'));
    const cryptoKey = await crypto.subtle.importKey('spki',
      publicVerif.convertRSASSAPSSToEnc(pkBytes),
      TOKEN_TYPES.PARTIALLY_BLIND_RSA.rsaParams, true, ['verify']);
    const requestUrl = new URL(dir['issuer-request-uri'], s.base);
    const now = Math.floor(Date.now() / 1000);
    // two values in all: few distinct metadata values, few anonymity sets
    const hour = expiration(3600, (Math.floor(now / 3600) + 1) * 3600);
    const day = expiration(86400, (Math.floor(now / 86400) + 1) * 86400);
    for (let i = 0; i < count; i += 1) {
      const ext = i % 4 === 3 ? day : hour;
      const altered = ext === day ? hour : day;
      try {
        const origin = new publicVerif.OriginWithMetadata(MODE, ext, ['interop.example']);
        const challenge = origin.createTokenChallenge('issuer.interop.example', randomBytes(32));
        const client = new publicVerif.ClientWithMetadata(MODE, ext);
        const req = await client.createTokenRequest(challenge, pkBytes);
        const res = await fetch(requestUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/private-token-request' },
          body: req.serialize(),
        });
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (res.status !== 200 || bytes.length !== 256) {
          fail(`token ${i}`, `issuance answered ${res.status}, ${bytes.length} bytes: ${Buffer.from(bytes).toString('latin1').slice(0, 120)}`);
          continue;
        }
        const token = await client.finalize(client.deserializeTokenResponse(bytes));
        const wire = Token.deserialize(TOKEN_TYPES.PARTIALLY_BLIND_RSA, token.serialize());
        if (await origin.verify(wire, cryptoKey)) pass();
        else fail(`token ${i}`, 'OriginWithMetadata.verify rejected it');
        const other = new publicVerif.OriginWithMetadata(MODE, altered, ['interop.example']);
        if (!(await other.verify(wire, cryptoKey))) pass();
        else fail(`token ${i}`, 'verified under other extensions');
        let r = await redeem(s.base, wire, altered);
        if (r.status === 403 && r.json.reason === 'bad_signature') pass();
        else fail(`token ${i}`, `redeem with altered extensions: ${r.status} ${JSON.stringify(r.json)}`);
        r = await redeem(s.base, wire, null);
        if (r.status === 403) pass();
        else fail(`token ${i}`, `redeem without extensions: ${r.status} ${JSON.stringify(r.json)}`);
        const viaHeader = i % 2 === 1;
        if (viaHeader) {
          const [h] = AuthorizationHeader.parse(TOKEN_TYPES.PARTIALLY_BLIND_RSA,
            authorization(wire, ext));
          if (h && h.extensions
              && b64url(h.extensions.serialize()) === b64url(ext.serialize())
              && b64url(h.token.serialize()) === b64url(wire.serialize())) pass();
          else fail(`token ${i}`, 'privacypass-ts does not read the header back');
        }
        r = await redeem(s.base, wire, ext, viaHeader);
        if (r.status === 200 && r.json.result === 'valid' && r.json.token_type === TYPE) pass();
        else fail(`token ${i}`, `redeem${viaHeader ? ' (authorization)' : ''}: ${r.status} ${JSON.stringify(r.json)}`);
        r = await redeem(s.base, wire, ext, !viaHeader);
        if (r.status === 409) pass();
        else fail(`token ${i}`, `second redeem: ${r.status} ${JSON.stringify(r.json)}`);
      } catch (err) {
        fail(`token ${i}`, err && err.stack ? err.stack : String(err));
      }
    }
  } catch (err) {
    fail('setup', err && err.message ? err.message : String(err));
  } finally {
    if (s) await stopServer(s);
    if (failed && s) console.log(s.log().split('\n').slice(-20).join('\n'));
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`interop da7a: ${passed} passed, ${failed} failed (${count} tokens)`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main();
