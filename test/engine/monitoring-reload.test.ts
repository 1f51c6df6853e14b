// A redeploy applies a changed alert rule: the demo with its monitoring is
// deployed, the HighErrorRate threshold is tightened in the stack file, and
// the next deploy checks the new rule file with promtool inside the running
// Prometheus and reloads it in place. Prometheus' own rules API (published on
// 127.0.0.1) then serves the new expression, and the container is the same
// one (its id unchanged: reloaded, not recreated).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { lifeops, demoCopy, demoProject, at, editStack } from '../helpers.js';

const PROM_PORT = 19393;
const stack = demoCopy('monrl', 18393, (d) => {
  at(d, 'environments.monitored.monitoring').prometheus_port = PROM_PORT;
});
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];
const { container } = demoProject('monrl-monitored');

interface RuleGroups { data: { groups: { rules: { name: string; query: string }[] }[] } }
async function highErrorRate(): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${PROM_PORT}/api/v1/rules`).catch(() => undefined);
  if (!res?.ok) return undefined;
  const body = (await res.json()) as RuleGroups;
  return body.data.groups.flatMap((g) => g.rules).find((r) => r.name === 'HighErrorRate')?.query;
}
async function waitFor(pred: (q: string | undefined) => boolean, ms = 30_000): Promise<string | undefined> {
  const deadline = Date.now() + ms;
  let q: string | undefined;
  while (Date.now() < deadline) {
    q = await highErrorRate();
    if (pred(q)) return q;
    await new Promise((r) => setTimeout(r, 500));
  }
  return q;
}

describe('a changed alert rule goes live on the next deploy (real engine, real Prometheus)', () => {
  beforeAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup', '--env', 'monitored'));
    const r = await lifeops(args('deploy', 'monitored'));
    if (r.exitCode !== 0) throw new Error(`deploy failed:\n${r.stderr}`);
  }, 400_000);
  afterAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup', '--env', 'monitored'));
  }, 200_000);

  it('the tightened threshold is in the rules API after deploy, Prometheus reloaded in place', async () => {
    expect(await waitFor((q) => Boolean(q))).toMatch(/> 0\.05$/);
    const before = await container('prometheus');
    expect(before).toMatch(/^[0-9a-f]{12}$/);

    editStack(stack.file, (d) => {
      at(d, 'environments.monitored.monitoring').thresholds = { error_rate_ratio: 0.2 };
    });
    // the dry run shows the check and the reload, with the container, and changes nothing
    const dry = await lifeops(args('deploy', 'monitored', '--dry-run', '--skip-backup'));
    expect(dry.exitCode, dry.stderr).toBe(0);
    const out = dry.stdout + dry.stderr;
    expect(out).toMatch(/prometheus: promtool check on the new files, then reload \S+ in place \(prometheus\.yml and its rule files changed\)/);
    expect(out).toMatch(new RegExp(`\\$ docker exec ${before}\\w* promtool check config /etc/prometheus/prometheus.yml`));
    expect(out).toMatch(new RegExp(`\\$ docker kill --signal HUP ${before}\\w*`));
    expect(out).not.toMatch(/reload \S*alertmanager/);
    expect(await highErrorRate()).toMatch(/> 0\.05$/);

    const r = await lifeops(args('deploy', 'monitored', '--skip-backup'));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await waitFor((q) => Boolean(q?.endsWith('> 0.2')))).toMatch(/> 0\.2$/);
    expect(await container('prometheus')).toBe(before);
    // nothing else to do on a third deploy: no reload planned
    const again = await lifeops(args('deploy', 'monitored', '--dry-run', '--skip-backup'));
    expect(again.stdout + again.stderr).not.toMatch(/promtool check/);
  }, 400_000);

});
