// Issue 16: a `$` in the CSP reaches the browser as a literal `$`. The front's
// rendered nginx folder (from `lifeops render`) passes the real `nginx -t`, and a
// real request through a port published on 127.0.0.1 returns the header byte
// for byte. Port 19210, container labelled lifeops.test=gaps-nginx.
import { describe, it, expect, afterAll } from 'vitest';
import { execa } from 'execa';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { demoCopy, lifeops } from '../helpers.js';

const PORT = 19210;
const CSP_IN_STACK = "default-src 'self'; script-src 'self' 'nonce-$$abc' $$host; style-src 'self' \\x";
const CSP_SENT = "default-src 'self'; script-src 'self' 'nonce-$abc' $host; style-src 'self' \\x";
let container = '';
let dir = '';

afterAll(async () => {
  if (container) await execa('docker', ['rm', '-f', container], { reject: false });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a $ in the CSP under real nginx', () => {
  it('nginx -t accepts the rendered files and a request gets the CSP with literal $ signs', async () => {
    const copy = demoCopy('gpcsp', PORT, (doc) => {
      doc.front.security_headers = { content_security_policy: CSP_IN_STACK };
    });
    dir = copy.dir;
    const out = path.join(copy.dir, 'render');
    const r = await lifeops(['-f', copy.file, '--state-dir', copy.stateDir, 'render', '--env', 'local', '--out', out], { env: { POSTGRES_PASSWORD: 'gaps-csp-only' } });
    expect(r.exitCode, r.stderr).toBe(0);
    const mount = ['-v', `${out}/nginx:/etc/nginx/lifeops:ro`, '--add-host', 'web:127.0.0.1'];
    const t = await execa('docker', ['run', '--rm', '--label', 'lifeops.test=gaps-nginx', ...mount, 'lifeops/nginx:local', 'nginx', '-t', '-c', '/etc/nginx/lifeops/nginx.conf'], { reject: false, all: true });
    expect(t.exitCode, t.all).toBe(0);
    expect(t.all).toContain('test is successful');
    container = (await execa('docker', ['run', '-d', '--label', 'lifeops.test=gaps-nginx', '-p', `127.0.0.1:${PORT}:80`, ...mount,
      'lifeops/nginx:local', 'nginx', '-g', 'daemon off;', '-c', '/etc/nginx/lifeops/nginx.conf'])).stdout.trim();
    let csp: string | null = null;
    let status = 0;
    for (let i = 0; i < 50 && csp === null; i++) {
      try {
        // the demo's health location is answered by nginx itself
        const res = await fetch(`http://127.0.0.1:${PORT}/health`, { headers: { host: 'localhost' }, signal: AbortSignal.timeout(3000) });
        await res.text();
        status = res.status;
        csp = res.headers.get('content-security-policy');
      } catch {
        await new Promise((ok) => setTimeout(ok, 200));
      }
    }
    expect(status).toBeGreaterThan(0);
    expect(csp).toBe(CSP_SENT);
  });
});
