// The demo with its rendered monitoring: Prometheus (real, from Debian) scrapes
// the app; its targets API on 127.0.0.1 reports the web target up.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { lifeops, demoCopy, at } from '../helpers.js';

const PROM_PORT = 19391;
const stack = demoCopy('mon', 18391, (d) => {
  at(d, 'environments.monitored.monitoring').prometheus_port = PROM_PORT;
});
const args = (...rest: string[]) => ['-f', stack.file, '--state-dir', stack.stateDir, ...rest];

describe('demo with monitoring (real engine, real Prometheus)', () => {
  beforeAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup', '--env', 'monitored'));
    const r = await lifeops(args('deploy', 'monitored'));
    if (r.exitCode !== 0) throw new Error(`deploy failed:\n${r.stderr}`);
  });
  afterAll(async () => {
    await lifeops(args('down', '--volumes', '--yes', '--skip-backup', '--env', 'monitored'));
  });

  it("Prometheus's targets API reports the app's scrape target up", async () => {
    let web: { health: string; lastError: string } | undefined;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const res = await fetch(`http://127.0.0.1:${PROM_PORT}/api/v1/targets`).catch(() => undefined);
      if (res?.ok) {
        const body = (await res.json()) as { data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] } };
        web = body.data.activeTargets.find((t) => t.labels.job === 'web');
        if (web?.health === 'up') break;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(web, 'no target for job "web"').toBeDefined();
    expect(web!.health, web!.lastError).toBe('up');
    const rules = await (await fetch(`http://127.0.0.1:${PROM_PORT}/api/v1/rules`)).json();
    const names = rules.data.groups.flatMap((g: { rules: { name: string }[] }) => g.rules.map((r) => r.name));
    expect(names).toEqual(expect.arrayContaining(['WebDown', 'PostgresDown', 'HighErrorRate']));
  });
});
