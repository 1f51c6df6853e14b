// front.tls.acme on the real engine against a real ACME CA: Debian's pebble
// (testbed/pebble.sh), HTTP-01 validated through the front's published port,
// names resolved by pebble's mock DNS. Clients trust pebble's roots only and
// verify the chain (never rejectUnauthorized: false).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import https from 'node:https';
import { execa } from 'execa';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { lifeops, demoCopy, at, editStack, ROOT } from '../helpers.js';

const HTTP = 18470;
const HTTPS = 18471;
const PEBBLE = { PEBBLE_PORT: '14470', PEBBLE_MGMT_PORT: '15470', PEBBLE_DNS_PORT: '8470', PEBBLE_HTTP_PORT: String(HTTP), PEBBLE_VALIDITY: '172800', PEBBLE_DIR: path.join(ROOT, '.tmp-tests', 'pebble-acm') };
const pebble = async (cmd: 'start' | 'stop') => {
  const r = await execa('bash', [path.join(ROOT, 'testbed/pebble.sh'), cmd], { env: PEBBLE });
  return Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
};
const DOMAINS = ['app.acme.test', 'www.app.acme.test', 'api.acme.test'];
const ENV = { POSTGRES_PASSWORD: 'demo-local-password-not-secret' };

let facts: Record<string, string> = {};
/** every pebble root seen (it makes a new one on each start) */
const roots: string[] = [];
const stack = demoCopy('acm', HTTP, (d) => {
  at(d, 'services.front').ports = [`127.0.0.1:\${DEMO_HTTP_PORT}:80`, `127.0.0.1:${HTTPS}:443`];
  d.front.domains = [
    { name: 'app.acme.test', aliases: ['www.app.acme.test'], upstream: 'web' },
    { name: 'api.acme.test', upstream: 'web' },
  ];
  d.status = { tls: { warn_days: 1, crit_days: 0 } }; // pebble's certificates here live two days
});
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];

/** GET https://NAME/ through the front's published 443, the chain verified against pebble's roots. */
function getHttps(name: string, urlPath = '/'): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: HTTPS, path: urlPath, servername: name, headers: { host: name }, ca: roots, agent: false, timeout: 5000 }, (res) => {
      const serial = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, serial }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** GET http://NAME/ through the front's published HTTP port (fetch would not send a Host header of ours). */
function getHttpStatus(name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: HTTP, path: '/', headers: { host: name }, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The status of `get`, retried for up to 5 s while it throws (a TLS name mismatch before the new workers run). */
async function eventually(get: () => Promise<{ status: number }>): Promise<number> {
  for (let i = 0; ; i++) {
    try {
      return (await get()).status;
    } catch (e) {
      if (i >= 25) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function certs(): Promise<Record<string, { serial?: string; not_after?: string; last_attempt?: { ok: boolean; error?: string } }>> {
  const r = await lifeops(args('certs', 'list', '--json'), { env: ENV });
  expect(r.exitCode, r.stderr).toBe(0);
  return Object.fromEntries(JSON.parse(r.stdout).certificates.map((c: { domain: string }) => [c.domain, c]));
}

describe('HTTPS through ACME (pebble, real engine)', () => {
  beforeAll(async () => {
    facts = await pebble('start');
    roots.push(readFileSync(facts.ROOTS, 'utf8'));
    editStack(stack.file, (d) => {
      d.front.tls = { enabled: true, acme: { email: 'ops@lifeops.test', directory: facts.DIRECTORY, ca_bundle: facts.CA_BUNDLE, renew_before: 1 } };
    });
  }, 60_000);
  afterAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup'), { env: ENV });
    await pebble('stop');
  }, 120_000);

  it('deploy obtains a certificate per domain (aliases included) and every name answers 200 over HTTPS with a verified chain', async () => {
    const t0 = Date.now();
    const r = await lifeops(args('deploy', 'local', '--version', 'v1'), { env: ENV });
    expect(r.exitCode, r.stderr).toBe(0);
    const issue = /✔ certificate for app\.acme\.test, www\.app\.acme\.test from .*\((\d[\d.]*m?s)\)\n/.exec(r.stderr);
    console.log(`first deploy with ACME: ${Date.now() - t0} ms; issuance of app.acme.test (+www): ${issue?.[1] ?? '?'}`);
    expect(r.stderr).toMatch(/render HTTPS for the domains that got their first certificate/);
    for (const name of DOMAINS) expect((await getHttps(name)).status, name).toBe(200);
    // key and certificate private to root, in the state dir
    for (const f of ['privkey.pem', 'fullchain.pem']) expect(statSync(path.join(stack.stateDir, 'acme', 'local', 'live', 'app.acme.test', f)).mode & 0o777).toBe(0o600);
    // HTTP now redirects to HTTPS (the challenge path stays on HTTP)
    expect(await getHttpStatus('api.acme.test')).toBe(301);
  }, 240_000);

  it('a second deploy does not ask the CA again', async () => {
    const before = await certs();
    const r = await lifeops(args('deploy', 'local', '--version', 'v1', '--skip-backup'), { env: ENV });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/certificate for .* from https:/);
    const after = await certs();
    for (const d of ['app.acme.test', 'api.acme.test']) expect(after[d].serial).toBe(before[d].serial);
  }, 180_000);

  it('a forced renewal installs new certificates and reloads the front with no failed request under load', async () => {
    const before = await certs();
    let done = false;
    let ok = 0;
    let failed = 0;
    // two bounded loops, each request a new TLS connection (what a reload must not break)
    const loop = async (offset: number) => {
      for (let i = offset; i < 2000 && !done; i++) {
        try {
          if ((await getHttps(DOMAINS[i % 3])).status === 200) ok++;
          else failed++;
        } catch {
          failed++;
        }
        await new Promise((res) => setTimeout(res, 10));
      }
    };
    const load = Promise.all([loop(0), loop(1)]);
    const t0 = Date.now();
    const r = await lifeops(args('certs', 'renew', '--force', '--json'), { env: ENV });
    const took = Date.now() - t0;
    const outcomes = r.exitCode === 0 ? JSON.parse(r.stdout).outcomes.map((o: { domain: string; duration_ms: number }) => `${o.domain} ${o.duration_ms} ms`).join(', ') : '?';
    await new Promise((res) => setTimeout(res, 500));
    done = true;
    await load;
    console.log(`forced renewal of 2 certificates (3 names) + reload: ${took} ms (ACME: ${outcomes}); requests during it: ${failed} failed of ${ok + failed}`);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).outcomes.map((o: { result: string }) => o.result)).toEqual(['renewed', 'renewed']);
    expect(ok).toBeGreaterThan(20);
    expect(failed).toBe(0);
    const after = await certs();
    for (const d of ['app.acme.test', 'api.acme.test']) expect(after[d].serial).not.toBe(before[d].serial);
    // the served certificate is the new one
    expect((await getHttps('api.acme.test')).serial.toLowerCase()).toBe(after['api.acme.test'].serial!.toLowerCase());
  }, 180_000);

  it('status reads days left from the served certificate; a refused renewal is a WARNING and HTTPS keeps serving', async () => {
    const s = await lifeops(args('status', '--json'), { env: ENV });
    const report = JSON.parse(s.stdout);
    const tls = report.checks.filter((c: { check: string }) => c.check.startsWith('tls '));
    expect(tls.map((c: { check: string }) => c.check).sort()).toEqual(['tls api.acme.test', 'tls app.acme.test']);
    for (const c of tls) {
      expect(c.level, c.message).toBe('OK');
      expect(c.message).toMatch(/expires in 1 day .*issuer Pebble Intermediate.*served on 127\.0\.0\.1:18471 \(SNI/);
    }
    await pebble('stop'); // the CA is down
    const r = await lifeops(args('certs', 'renew', '--force'), { env: ENV });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/no certificate for app\.acme\.test: the CA at https:\/\/127\.0\.0\.1:14470\/dir refused: directory https:\/\/127\.0\.0\.1:14470\/dir: .*ECONNREFUSED/);
    expect((await getHttps('app.acme.test')).status).toBe(200);
    const w = await lifeops(args('status', '--json'), { env: ENV });
    expect(w.exitCode).toBe(1);
    const warned = JSON.parse(w.stdout).checks.find((c: { check: string }) => c.check === 'tls app.acme.test');
    expect(warned.level).toBe('WARNING');
    expect(warned.message).toMatch(/last renewal attempt failed .*ECONNREFUSED/);
    const nagios = await lifeops(args('status', '--format', 'nagios'), { env: ENV });
    expect(nagios.stdout).toMatch(/^WARNING/);
    const list = await certs();
    expect(list['app.acme.test'].last_attempt).toMatchObject({ ok: false });
  }, 180_000);

  it('a domain added while the CA is down stays on HTTP with the reason; the next deploy certifies it without touching the others', async () => {
    editStack(stack.file, (d) => void d.front.domains.push({ name: 'new.acme.test', upstream: 'web' }));
    const r = await lifeops(args('deploy', 'local', '--version', 'v1', '--skip-backup'), { env: ENV });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no certificate for new\.acme\.test: .*refused: .*ECONNREFUSED.*it stays on HTTP/);
    expect(await getHttpStatus('new.acme.test')).toBe(200);
    expect(await getHttpStatus('api.acme.test')).toBe(301); // the others keep HTTPS
    const before = await certs();
    facts = await pebble('start');
    roots.push(readFileSync(facts.ROOTS, 'utf8'));
    const again = await lifeops(args('deploy', 'local', '--version', 'v1', '--skip-backup'), { env: ENV });
    expect(again.exitCode, again.stderr).toBe(0);
    // nginx -s reload returns once the master is signalled: the new workers take over a moment later
    expect(await eventually(() => getHttps('new.acme.test'))).toBe(200);
    const after = await certs();
    expect(after['app.acme.test'].serial).toBe(before['app.acme.test'].serial);
  }, 240_000);

  it('a backup holds the account and certificates (0600, not the webroot); a rollback to it brings them back and the front serves them', async () => {
    const b = await lifeops(args('backup', '--json'), { env: ENV });
    expect(b.exitCode, b.stderr).toBe(0);
    const backup = JSON.parse(b.stdout);
    const kept = (await certs())['api.acme.test'].serial!;
    const inBackup = readdirSync(path.join(backup.dir, 'acme'), { recursive: true }).map(String).sort();
    expect(inBackup).toEqual(expect.arrayContaining(['live/api.acme.test/fullchain.pem', 'live/api.acme.test/privkey.pem', 'account.key']));
    expect(inBackup.some((f) => f.startsWith('webroot'))).toBe(false);
    expect(statSync(path.join(backup.dir, 'acme', 'live', 'api.acme.test', 'privkey.pem')).mode & 0o777).toBe(0o600);
    const renew = await lifeops(args('certs', 'renew', '--force'), { env: ENV });
    expect(renew.exitCode, renew.stderr).toBe(0);
    expect((await certs())['api.acme.test'].serial).not.toBe(kept);
    const rb = await lifeops(args('rollback', backup.id, '--yes'), { env: ENV });
    expect(rb.exitCode, rb.stderr).toBe(0);
    expect((await certs())['api.acme.test'].serial).toBe(kept);
    let served = '';
    for (let i = 0; i < 25 && served !== kept.toLowerCase(); i++) {
      served = (await getHttps('api.acme.test')).serial.toLowerCase();
      if (served !== kept.toLowerCase()) await new Promise((r) => setTimeout(r, 200));
    }
    expect(served).toBe(kept.toLowerCase());
  }, 240_000);
});
