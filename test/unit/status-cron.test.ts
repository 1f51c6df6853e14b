// `lifeops cron`: the /etc/cron.d file (rendered, installed idempotently into
// a scratch folder standing in for /etc/cron.d, removed), and the
// dead-man's-switch wrapper the installed lines call: URL/start, the job,
// URL/<exit code>, one run id, the URL (a secret) never printed. The pings go
// to a server on 127.0.0.1 that this test runs. No Docker needed: the status
// job of a stack that was never deployed answers CRITICAL, or UNKNOWN when
// there is no engine, and its exit code is what gets pinged.
import { describe, it, expect, afterAll } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { lifeops, demoCopy } from '../helpers.js';
import { loadStack } from '../../src/config/load.js';
import { renderCronD } from '../../src/render/cron.js';

const SECRET_PATH = '/ping/3f1c2b9e-secret-uuid-0042';
const pings: string[] = [];
const server = http.createServer((req, res) => {
  pings.push(req.url ?? '');
  res.end('OK');
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const PORT = (server.address() as AddressInfo).port;
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const stack = demoCopy('stcron', 18641, (d) => {
  d.cron = { ping: { status: `http://127.0.0.1:${PORT}${SECRET_PATH}` }, status_schedule: '*/2 * * * *' };
});
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];

describe('cron.d file', () => {
  it('renders the three jobs; a job with a ping URL runs through `cron --run`, the URL itself is not in the file', () => {
    const s = loadStack({ file: stack.file, env: 'local', processEnv: {} });
    const text = renderCronD(s, { node: '/usr/bin/node', bin: '/opt/lifeops/bin/lifeops.js', stateDir: '/var/lib/lifeops' });
    const base = `/usr/bin/node /opt/lifeops/bin/lifeops.js -f ${stack.file} --state-dir /var/lib/lifeops`;
    expect(text.split('\n')).toEqual([
      '# lifeops stcron-local: written by `lifeops cron --install`, removed by `lifeops cron --uninstall`.',
      '# Generated: edit the stack file and install again rather than editing this file.',
      'SHELL=/bin/sh',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      `30 2 * * * root ${base} backup --env local >> /var/lib/lifeops/logs/cron.log 2>&1`,
      `30 4 * * 0 root ${base} backups verify --latest --env local >> /var/lib/lifeops/logs/cron.log 2>&1`,
      `*/2 * * * * root ${base} cron --run status --env local >> /var/lib/lifeops/logs/cron.log 2>&1`,
      '',
    ]);
    expect(text).not.toContain('secret-uuid');
  });

  it('--install writes lifeops-<project> once (idempotent, no draft left), --uninstall removes it', async () => {
    const dir = mkdtempSync(path.join(stack.dir, 'cron.d-'));
    const first = await lifeops(args('cron', '--install', '--cron-dir', dir));
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/installed .*lifeops-stcron-local \(3 jobs for stcron-local\)/);
    const file = path.join(dir, 'lifeops-stcron-local');
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/cron --run status --env local/);
    const again = await lifeops(args('cron', '--install', '--cron-dir', dir));
    expect(again.stderr).toMatch(/is up to date/);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(readdirSync(dir)).toEqual(['lifeops-stcron-local']);
    const un = await lifeops(args('cron', '--uninstall', '--cron-dir', dir));
    expect(un.exitCode).toBe(0);
    expect(existsSync(file)).toBe(false);
  });
});

describe("dead-man's switch", () => {
  it('cron --run status pings /start, then /<exit code>, with one run id; the URL is masked in the output', async () => {
    pings.length = 0;
    const r = await lifeops(args('cron', '--run', 'status'), { timeoutMs: 60_000 });
    expect([2, 3]).toContain(r.exitCode); // never deployed: CRITICAL (or UNKNOWN without an engine)
    expect(pings).toHaveLength(2);
    const [start, end] = pings.map((p) => new URL(p, 'http://x'));
    expect(start.pathname).toBe(`${SECRET_PATH}/start`);
    expect(end.pathname).toBe(`${SECRET_PATH}/${r.exitCode}`);
    expect(start.searchParams.get('rid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(end.searchParams.get('rid')).toBe(start.searchParams.get('rid'));
    expect(r.stderr).toMatch(new RegExp(`cron status ${start.searchParams.get('rid')}: exit ${r.exitCode}`));
    expect(`${r.stdout}${r.stderr}`).not.toContain('secret-uuid');
  });

  it('an unknown job is a usage error and pings nothing', async () => {
    pings.length = 0;
    const r = await lifeops(args('cron', '--run', 'deploy'));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--run takes one of backup, verify, status/);
    expect(pings).toEqual([]);
  });
});
