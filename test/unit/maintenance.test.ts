// Maintenance mode without Docker: the block every rendered nginx site
// carries (checked by the host's real nginx: `nginx -t`, then served on a
// loopback port with the files `maintenance on` writes), the message's
// escaping and refusal of control characters, the refusals (no front, a
// Traefik front, swarm) with exit 2, and what `status` makes of it.
import { describe, it, expect, afterAll } from 'vitest';
import { execa } from 'execa';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import { renderAll } from '../../src/render/index.js';
import { checkMaintenanceMessage, checkRetryAfter, escapeHtml, exemptPaths, maintenancePages, MAINTENANCE_DIR, stateFolderName } from '../../src/render/maintenance.js';
import { MAINTENANCE_SUBDIR, renderDir } from '../../src/state/paths.js';
import { clearMaintenance, readMaintenance, writeMaintenance } from '../../src/state/maintenance.js';
import { readRenderedDir, writeRendered } from '../../src/flows/render.js';
import { maintenanceCheck } from '../../src/plan/status.js';
import { UsageError } from '../../src/errors.js';
import { ROOT, lifeops } from '../helpers.js';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
const tmp = (prefix: string) => {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
};
const demo = () => loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), processEnv: {}, allowMissing: true });
const NOT_DOCKER = { DOCKER_HOST: 'unix:///nonexistent' };

describe('the rendered maintenance block', () => {
  it('every site checks the flag per request and exempts the health paths monitors use', () => {
    const stack = demo();
    const site = renderAll(stack, { renderDir: '/tmp/x' }).find((f) => f.path === 'nginx/conf.d/localhost.conf')!;
    expect(site.content).toContain('if (-f /etc/nginx/lifeops/maintenance/active/index.html) {');
    expect(site.content).toContain('error_page 503 /.lifeops-maintenance/page;');
    expect(exemptPaths(stack, stack.front!.domains[0])).toEqual(['/health', '/ready']);
    for (const p of ['/health', '/ready']) expect(site.content).toContain(`if ($uri = ${p}) {`);
    // the check runs at server level, before any location (so before the proxied ones)
    expect(site.content.indexOf('return 503;')).toBeLessThan(site.content.indexOf('location / {'));
    expect(MAINTENANCE_DIR).toBe(MAINTENANCE_SUBDIR);
  });

  it("host nginx: -t passes, and serving the rendered site it answers 503 + Retry-After + the page only while the flag is on", async () => {
    const stack = demo();
    const files = renderAll(stack, { renderDir: '/tmp/x' }).filter((f) => f.path.startsWith('nginx/'));
    const state = tmp('lifeops-maint-nginx-');
    chmodSync(state, 0o755); // nginx workers (nobody) read the page
    const rdir = renderDir(state, 'local');
    const conf = path.join(rdir, 'nginx');
    const port = 18000 + (process.pid % 900);
    writeRendered(
      files.map((f) => ({
        ...f,
        content: f.content
          .replaceAll('/etc/nginx/lifeops', conf)
          .replace(/listen 80 default_server;/, `listen 127.0.0.1:${port} default_server;`)
          .replace('pid /var/run/nginx.pid;', `pid ${state}/nginx.pid;`)
          .replace('access_log /dev/stdout json;', 'access_log off;'),
      })),
      rdir,
    );
    for (let d = rdir; d.startsWith(state); d = path.dirname(d)) chmodSync(d, 0o755);
    const t = await execa('nginx', ['-t', '-c', path.join(conf, 'nginx.conf'), '-p', conf + '/'], { reject: false, all: true });
    expect(t.exitCode, t.all).toBe(0);
    expect(t.all).toMatch(/test is successful/);

    const nginx = execa('nginx', ['-c', path.join(conf, 'nginx.conf'), '-p', conf + '/', '-g', 'daemon off;'], { reject: false, all: true });
    try {
      const get = async (p: string, headers: Record<string, string> = {}, method = 'GET') => {
        for (let i = 0; ; i++) {
          try {
            const r = await fetch(`http://127.0.0.1:${port}${p}`, { method, headers: { host: 'localhost', ...headers }, signal: AbortSignal.timeout(3000) });
            return { status: r.status, retry: r.headers.get('retry-after'), type: r.headers.get('content-type') ?? '', body: await r.text() };
          } catch (e) {
            if (i > 30) throw e;
            await new Promise((res) => setTimeout(res, 100)); // nginx starting
          }
        }
      };
      // off: the request goes to the proxy (no upstream resolves here: 502/504, never the page)
      const off = await get('/x');
      expect(off.status).not.toBe(503);
      const message = `Back at 5 <script>alert(1)</script> & "more"`;
      const pages = maintenancePages({ since: '2026-12-07T05:00:00.000Z', message, retry_after: 90, by: 'test' });
      writeMaintenance(state, 'local', stateFolderName(90, 'a1'), pages);
      const html = await get('/x');
      expect(html.status).toBe(503);
      expect(html.retry).toBe('90');
      expect(html.type).toBe('text/html; charset=utf-8');
      expect(html.body).toContain(escapeHtml(message));
      expect(html.body).not.toContain('<script>');
      const json = await get('/api/x?y=1', { accept: 'application/json' }, 'POST');
      expect(json.status).toBe(503);
      expect(JSON.parse(json.body)).toEqual({ status: 'maintenance', message, retry_after: 90 });
      expect((await get('/health')).status).toBe(200); // the front's own
      expect((await get('/ready')).status).not.toBe(503); // proxied (to nowhere here)
      expect((await get('/.lifeops-maintenance/page')).status).toBe(404); // internal only
      // a new Retry-After without a reload: the folder's name carries it
      writeMaintenance(state, 'local', stateFolderName(600, 'b2'), maintenancePages({ since: '2026-12-07T05:01:00.000Z', message: 'm2', retry_after: 600, by: 'test' }));
      expect((await get('/x')).retry).toBe('600');
      expect(readMaintenance(state, 'local')).toMatchObject({ message: 'm2', retry_after: 600, folder: 'r-600-b2' });
      expect(clearMaintenance(state, 'local')).toBe(true);
      expect((await get('/x')).status).not.toBe(503);
      expect(readMaintenance(state, 'local')).toBeUndefined();
      expect(clearMaintenance(state, 'local')).toBe(false);
    } finally {
      nginx.kill('SIGQUIT');
      await nginx;
    }
  });
});

describe('the maintenance files', () => {
  it('are never part of a release: readRenderedDir leaves them out', () => {
    const state = tmp('lifeops-maint-files-');
    const rdir = renderDir(state, 'local');
    writeRendered([{ path: 'nginx/nginx.conf', content: 'x' }], rdir);
    writeMaintenance(state, 'local', stateFolderName(300, 'c3'), maintenancePages({ since: 'now', message: 'm', retry_after: 300, by: 't' }));
    expect(readRenderedDir(rdir).map((f) => f.path)).toEqual(['nginx/nginx.conf']);
    expect(readdirSync(path.join(rdir, MAINTENANCE_SUBDIR)).sort()).toEqual(['active', 'r-300-c3']);
  });
});

describe('the message and Retry-After', () => {
  it('escapes HTML and refuses control characters with a UsageError (exit 2)', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(checkMaintenanceMessage('Zurück um 14 Uhr — danke')).toBe('Zurück um 14 Uhr — danke');
    for (const bad of ['two\nlines', 'tab\there', 'esc \u001b[31m', 'del \u007f', 'c1 \u0085']) {
      expect(() => checkMaintenanceMessage(bad)).toThrow(UsageError);
    }
    expect(() => checkMaintenanceMessage('   ')).toThrow(/empty/);
    expect(() => checkMaintenanceMessage('x'.repeat(1001))).toThrow(/at most 1000/);
    expect(checkRetryAfter(undefined)).toBe(300);
    expect(checkRetryAfter('60')).toBe(60);
    for (const bad of ['0', '-5', '1.5', 'soon', String(8 * 86400)]) expect(() => checkRetryAfter(bad)).toThrow(UsageError);
  });

  it('status: WARNING named "maintenance" with since-when and the message', () => {
    const c = maintenanceCheck({ on: true, since: '2026-12-07T05:00:00.000Z', message: 'db upgrade', by: 'lifeops maintenance on' }, new Date('2026-12-07T05:10:00.000Z'));
    expect(c).toMatchObject({ check: 'maintenance', level: 'WARNING' });
    expect(c.message).toMatch(/since 2026-12-07T05:00:00\.000Z \(10m(00s)? ago\)/);
    expect(c.message).toContain('"db upgrade"');
  });
});

describe('the CLI refuses with exit 2, writing nothing', () => {
  const stateDir = () => tmp('lifeops-maint-cli-');
  it('a message with a control character', async () => {
    const s = stateDir();
    const r = await lifeops(['-f', path.join(ROOT, 'stacks/demo.yaml'), '--state-dir', s, 'maintenance', 'on', '--message', 'line one\nline two'], { env: NOT_DOCKER });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/control character \(U\+000a\) at position 9/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(path.join(s, 'render'))).toBe(false);
  });
  it('a Traefik front, for maintenance on and deploy --maintenance', async () => {
    const s = stateDir();
    const cc = ['-f', path.join(ROOT, 'stacks/commandcenter.yaml'), '--state-dir', s];
    for (const a of [['maintenance', 'on', '--env', 'staging'], ['deploy', 'staging', '--maintenance', '--dry-run']]) {
      const r = await lifeops([...cc, ...a], { env: { ...NOT_DOCKER, DB_PASSWORD: 'x-not-a-secret-1234567890', SECRET_KEY: 'y-not-a-secret-1234567890' } });
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/front of \S+ is traefik: maintenance mode needs the nginx front/);
    }
  });
  it('a stack without a front', async () => {
    const dir = tmp('lifeops-maint-nofront-');
    const file = path.join(dir, 'stack.yaml');
    writeFileSync(file, stringify({ name: 'nf', default_environment: 'local', services: { web: { role: 'web', image: 'example/web:1', http: { port: 8000 } } }, environments: { local: {} } }));
    const r = await lifeops(['-f', file, '--state-dir', path.join(dir, 'state'), 'maintenance', 'on'], { env: NOT_DOCKER });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/has no front/);
    mkdirSync(path.join(dir, 'state'), { recursive: true });
    expect(readdirSync(path.join(dir, 'state'))).toEqual([]);
  });
  it('a swarm environment, for maintenance on/off and deploy/rollback --maintenance', async () => {
    const s = stateDir();
    const d = ['-f', path.join(ROOT, 'stacks/demo.yaml'), '--state-dir', s];
    for (const a of [['maintenance', 'on', '--env', 'swarm'], ['maintenance', 'off', '--env', 'swarm'], ['deploy', 'swarm', '--maintenance'], ['rollback', 'x', '--env', 'swarm', '--maintenance']]) {
      const r = await lifeops([...d, ...a], { env: NOT_DOCKER });
      expect(r.exitCode, `${a.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/target swarm/);
      expect(r.stderr).toMatch(/maintenance.*flag file in the nginx front's bind-mounted folder/);
    }
  });
});

describe('maintenance on a TLS site', () => {
  it("the port-80 server (the redirect to HTTPS) answers maintenance too, and lets ACME challenges through", () => {
    const stack = loadStack({ file: path.join(ROOT, 'stacks/lifeos.yaml'), env: 'production', processEnv: { POSTGRES_PASSWORD: 'x'.repeat(40), SECRET_KEY: 'y'.repeat(40), JWT_SECRET_KEY: 'z'.repeat(40) } });
    const site = renderAll(stack, { renderDir: '/tmp/lifeops-maint-tls' }).find((f) => f.path.startsWith('nginx/conf.d/'))!.content;
    const plain = site.slice(0, site.indexOf('listen 443'));
    expect(plain).toContain('return 301 https://$host$request_uri;');
    expect(plain).toContain('if ($lifeops_maintenance) {');
    expect(plain).toContain('if ($uri ~ "^/\\.well-known/acme-challenge/") {');
    expect(plain.indexOf('if ($lifeops_maintenance)')).toBeLessThan(plain.indexOf('return 301'));
  });
});
