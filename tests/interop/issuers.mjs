// Interop test of several issuers on one server: starts its own ppissuer
// with an issuers section of two issuers (a.interop.test, b.interop.test),
// then, with @cloudflare/privacypass-ts as the client, gets type-2 tokens
// from each issuer through that issuer's own directory (the Host header
// names the issuer), verifies them with the library's Origin, and checks
// that nothing crosses: a request for a's key at b (422), a's token at b
// (403), and a host of no issuer (421).
//
//   PP_BIN=/abs/path/to/ppissuer node issuers.mjs [count]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Token, TOKEN_TYPES, publicVerif } from '@cloudflare/privacypass-ts';

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.PP_BIN || join(here, '../../build/bin/ppissuer');
const count = Math.max(5, Number(process.argv[2] || 10));
const MODE = publicVerif.BlindRSAMode.PSS;
const HOSTS = { a: 'a.interop.test', b: 'b.interop.test' };

let passed = 0;
let failed = 0;
const pass = () => { passed += 1; };
function fail(what, detail) {
  failed += 1;
  console.log(`FAIL issuers ${what}: ${detail}`);
}

// fetch() will not send a Host of our choosing; node:http will.
function request(port, host, method, path, headers = {}, body = null) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, method, path, headers: { ...headers, host },
      timeout: 10000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks),
      }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (body) req.write(body);
    req.end();
  });
}

async function startServer(tmp) {
  const cfg = join(tmp, 'config.json');
  writeFileSync(cfg, JSON.stringify({
    issuers: [
      { name: 'a', hosts: [HOSTS.a] },
      { name: 'b', hosts: [HOSTS.b] },
    ],
  }));
  const env = Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => !k.startsWith('PPISSUER_')));
  const srv = spawn(bin, ['serve', '--config', cfg, '--listen', '127.0.0.1:0',
    '--data-dir', join(tmp, 'data'), '--log-requests', 'false'],
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
  return { srv, port };
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

// The issuer behind host, as its own directory describes it.
async function issuerOf(port, name) {
  const host = HOSTS[name];
  const res = await request(port, host, 'GET', '/.well-known/private-token-issuer-directory');
  if (res.status !== 200) throw new Error(`${name}: directory answered ${res.status}`);
  const dir = JSON.parse(res.body.toString('utf8'));
  const entry = dir['token-keys'].find((k) => k['token-type'] === 0x0002);
  if (!entry) throw new Error(`${name}: no type-2 key in ${JSON.stringify(dir)}`);
  const pkBytes = new Uint8Array(Buffer.from(entry['token-key'], 'base64url'));
  const cryptoKey = await crypto.subtle.importKey('spki',
    publicVerif.convertRSASSAPSSToEnc(pkBytes), TOKEN_TYPES.BLIND_RSA.rsaParams, true,
    ['verify']);
  const origin = new publicVerif.Origin(MODE, ['origin.interop.test']);
  const challenge = origin.createTokenChallenge(host, new Uint8Array(randomBytes(32)));
  return {
    name, host, pkBytes, cryptoKey, origin, challenge, etag: res.headers.etag,
    keyId: createHash('sha256').update(pkBytes).digest(),
    requestPath: new URL(dir['issuer-request-uri'], `http://${host}`).pathname,
  };
}

// One TokenRequest for iss's key, sent to host; the answer and the client.
async function ask(port, iss, host) {
  const client = new publicVerif.Client(MODE);
  const req = await client.createTokenRequest(iss.challenge, iss.pkBytes);
  const res = await request(port, host, 'POST', iss.requestPath,
    { 'content-type': 'application/private-token-request' }, Buffer.from(req.serialize()));
  return { client, res };
}

async function redeem(port, host, token) {
  const body = JSON.stringify({ token: Buffer.from(token.serialize()).toString('base64url') });
  const res = await request(port, host, 'POST', '/redeem',
    { 'content-type': 'application/json' }, body);
  return res.status;
}

async function tokens(port, iss) {
  const out = [];
  for (let i = 0; i < count; i += 1) {
    const { client, res } = await ask(port, iss, iss.host);
    if (res.status !== 200 || res.body.length !== 256) {
      fail(`${iss.name} token ${i}`, `issuance answered ${res.status}`);
      continue;
    }
    const token = await client.finalize(client.deserializeTokenResponse(new Uint8Array(res.body)));
    const wire = Token.deserialize(TOKEN_TYPES.BLIND_RSA, token.serialize());
    if (await iss.origin.verify(wire, iss.cryptoKey)) pass();
    else fail(`${iss.name} token ${i}`, 'Origin.verify rejected it');
    out.push(wire);
  }
  return out;
}

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), 'pp-issuers-'));
  let s;
  try {
    s = await startServer(tmp);
    const a = await issuerOf(s.port, 'a');
    const b = await issuerOf(s.port, 'b');
    if (Buffer.compare(a.keyId, b.keyId) !== 0 && a.etag !== b.etag) pass();
    else fail('directories', 'a and b publish the same key or ETag');
    const ta = await tokens(s.port, a);
    const tb = await tokens(s.port, b);
    // a's request at b: b has no key of that truncated id (when the
    // one-byte truncated ids happen to match, b would sign: skip then)
    if (a.keyId[31] !== b.keyId[31]) {
      const { res } = await ask(s.port, a, b.host);
      if (res.status === 422) pass(); else fail('a request at b', `answered ${res.status}`);
    }
    for (const [iss, mine, other] of [[a, ta, b], [b, tb, a]]) {
      if (mine.length === 0) continue;
      let st = await redeem(s.port, other.host, mine[0]);
      if (st === 403) pass(); else fail(`${iss.name}'s token at ${other.name}`, `answered ${st}`);
      st = await redeem(s.port, iss.host, mine[0]);
      if (st === 200) pass(); else fail(`${iss.name}'s token at ${iss.name}`, `answered ${st}`);
      st = await redeem(s.port, other.host, mine[0]);
      if (st === 403) pass(); else fail(`${iss.name}'s spent token at ${other.name}`, `answered ${st}`);
    }
    const res = await request(s.port, 'c.interop.test', 'GET',
      '/.well-known/private-token-issuer-directory');
    if (res.status === 421) pass(); else fail('unknown host', `answered ${res.status}`);
  } catch (err) {
    fail('setup', err.stack || String(err));
  } finally {
    if (s) await stopServer(s);
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`interop issuers: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

await main();
