// Issue 13: Debian's real cron daemon runs a line `lifeops cron --install`
// wrote. The status job of a demo copy is scheduled every minute with a
// dead-man's-switch URL on a ping server this test runs on 127.0.0.1:19232;
// within 150 s cron runs it: the ping server sees /start then /<exit code> with
// the same run id, and the textfile lands in place. Then `cron --uninstall`
// removes the line; the daemon is stopped if this test started it. The stack
// itself is not deployed: status reports it down, which is an exit code too.
import { describe, it, expect, afterAll } from 'vitest';
import { execa } from 'execa';
import http from 'node:http';
import path from 'node:path';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { ROOT, demoCopy, lifeops } from '../helpers.js';

const PING_PORT = 19232;
const CRON_FILE = '/etc/cron.d/lifeops-gpcron-local';
const textfileDir = path.join(ROOT, '.tmp-tests', `gpcron-textfile-${process.pid}`);
const stack = demoCopy('gpcron', 19231, (d) => {
  d.cron = { status_schedule: '* * * * *', textfile_dir: textfileDir, ping: { status: `http://127.0.0.1:${PING_PORT}/ping/gp-status` } };
});
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];

let startedCron: number | undefined;
let server: http.Server | undefined;

afterAll(async () => {
  await lifeops(args('cron', '--uninstall', '--env', 'local'));
  if (startedCron) process.kill(startedCron, 'SIGTERM');
  server?.close();
  rmSync(textfileDir, { recursive: true, force: true });
  rmSync(stack.dir, { recursive: true, force: true });
});

async function cronPid(): Promise<number | undefined> {
  const r = await execa('pgrep', ['-x', 'cron'], { reject: false });
  const pid = Number(r.stdout.trim().split('\n')[0]);
  return pid > 0 ? pid : undefined;
}

describe('the real cron daemon', () => {
  it('runs the installed every-minute status line, which pings start and its exit code', async () => {
    expect(existsSync('/usr/sbin/cron'), "Debian's cron package (testbed/setup.sh installs it)").toBe(true);
    const hits: { path: string; at: number }[] = [];
    server = http.createServer((req, res) => {
      hits.push({ path: req.url ?? '', at: Date.now() });
      res.end('OK');
    });
    await new Promise<void>((ok) => server!.listen(PING_PORT, '127.0.0.1', ok));

    mkdirSync(textfileDir, { recursive: true });

    const inst = await lifeops(args('cron', '--install', '--env', 'local'));
    expect(inst.exitCode, inst.stderr).toBe(0);
    const line = readFileSync(CRON_FILE, 'utf8').split('\n').find((l) => l.includes(' cron --run status'));
    expect(line).toMatch(/^\* \* \* \* \* root /);
    expect(readFileSync(CRON_FILE, 'utf8')).not.toContain(`127.0.0.1:${PING_PORT}`); // the URL is read at run time
    expect(statSync(CRON_FILE).mode & 0o777).toBe(0o644);

    if (!(await cronPid())) {
      await execa('/usr/sbin/cron'); // daemonizes; its pid is in /run/crond.pid
      for (let i = 0; i < 20 && !startedCron; i++) {
        startedCron = await cronPid();
        if (!startedCron) await new Promise((ok) => setTimeout(ok, 100));
      }
      expect(startedCron).toBeGreaterThan(0);
    }

    const t0 = Date.now();
    const deadline = t0 + 150_000;
    const ran = () => {
      const start = hits.find((h) => h.path.startsWith('/ping/gp-status/start?rid='));
      if (!start) return undefined;
      const rid = start.path.split('rid=')[1];
      const end = hits.find((h) => /^\/ping\/gp-status\/\d+\?rid=/.test(h.path) && h.path.endsWith(`rid=${rid}`));
      return end ? { start, end, rid } : undefined;
    };
    while (Date.now() < deadline && !ran()) await new Promise((ok) => setTimeout(ok, 1000));
    const r = ran();
    console.log(`cron ran the status line ${r ? `after ${Math.round((r.end.at - t0) / 1000)} s` : 'never'}; pings: ${hits.map((h) => h.path.replace(/rid=.*/, 'rid=…')).join(' ')}`);
    expect(r, `no /start and /<exit> pair within 150 s; hits: ${JSON.stringify(hits)}`).toBeDefined();
    // status of a stack that is not running: CRITICAL (2); the code is what it pinged
    expect(r!.end.path).toMatch(/^\/ping\/gp-status\/2\?rid=/);
    const prom = path.join(textfileDir, 'lifeops-gpcron-local.prom');
    expect(existsSync(prom)).toBe(true);
    expect(readFileSync(prom, 'utf8')).toMatch(/^lifeops_/m);
    const log = readFileSync(path.join(stack.stateDir, 'logs', 'cron.log'), 'utf8');
    expect(log).toContain(`cron status ${r!.rid}: exit 2`);
    expect(log).not.toContain(`127.0.0.1:${PING_PORT}`);

    const un = await lifeops(args('cron', '--uninstall', '--env', 'local'));
    expect(un.exitCode, un.stderr).toBe(0);
    expect(existsSync(CRON_FILE)).toBe(false);
  }, 200_000);
});
