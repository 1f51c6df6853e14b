// `lifeops status` writes nothing to stderr when nothing is wrong, also on a
// stack with more than ten containers and checks (issue 25: it printed
// "MaxListenersExceededWarning: Possible EventTarget memory leak detected.
// 11 abort listeners added to [AbortSignal]": status asks the engine for
// every container and its remembered probes at once, under one signal, when --env names the environment). From
// cron that was a mail every run. A copy of the demo stack with eight more
// containers (13 in all); status runs with --env, as cron's lines do, which
// starts the calls the last run made before the stack is loaded. Demo copy "stmany", front 19457.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { rmSync } from 'node:fs';
import { lifeops, demoCopy, at } from '../helpers.js';

const EXTRA = 8;
const stack = demoCopy('stmany', 19457, (d) => {
  const services = at(d, 'services') as Record<string, Record<string, any>>;
  for (let i = 1; i <= EXTRA; i++) {
    services[`idle${i}`] = { role: 'other', image: 'lifeops/base:bookworm', command: ['sleep', 'infinity'], stop_grace_period: '1s', resources: { limits: { memory: '16M', cpus: 0.1 } } };
  }
  for (const svc of Object.values(services)) {
    svc.health_timeout = '600s';
    if (svc.healthcheck) Object.assign(svc.healthcheck, { timeout: '20s', retries: 100, start_period: '300s' });
  }
});
const cli = (...rest: string[]) => lifeops(['-f', stack.file, '--state-dir', stack.stateDir, ...rest], { timeoutMs: 900_000 });

describe('status on a stack with more than ten checks', () => {
  beforeAll(async () => {
    await cli('down', '--volumes', '--yes', '--skip-backup');
    const r = await cli('deploy', 'local');
    if (r.exitCode !== 0) throw new Error(`deploy failed:\n${r.stderr}`);
  }, 1_000_000);
  afterAll(async () => {
    await cli('down', '--volumes', '--yes', '--skip-backup');
    rmSync(stack.dir, { recursive: true, force: true });
  }, 300_000);

  it('prints its report on stdout and nothing on stderr, run after run', async () => {
    for (let run = 1; run <= 3; run++) {
      const r = await cli('status', '--env', 'local');
      expect(r.stderr, `status run ${run}`).toBe('');
      expect(r.stdout).toContain('idle8');
      const j = await cli('status', '--env', 'local', '--json');
      expect(j.stderr, `status --json run ${run}`).toBe('');
      const report = JSON.parse(j.stdout) as { services: { service: string; state: string }[] };
      expect(report.services.length).toBeGreaterThan(10);
      expect(report.services.filter((s) => s.state === 'running').length).toBe(report.services.length);
    }
  }, 300_000);
});
