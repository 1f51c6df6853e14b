// The deploy plan covers the monitoring override's services (demo stack,
// environment "monitored": Prometheus and Alertmanager): a changed image or
// compose configuration recreates one; a changed file it reads from its
// mounted folder is checked inside its container and reloaded in place; the
// dry-run text shows both commands.
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { loadStack } from '../../src/config/load.js';
import { planDeploy, formatDeployPlan, type DeployFacts } from '../../src/plan/deploy.js';
import { monitoringFilesChanged, monitoringServices, RELOADABLE } from '../../src/plan/monitoring.js';
import { RELOADED_IN_PLACE } from '../../src/render/monitoring.js';
import { CONFIG_FILES_LABEL } from '../../src/render/index.js';
import { parse } from 'yaml';
import type { ObservedContainer } from '../../src/plan/rollout.js';
import type { ComposeCli } from '../../src/commands/compose.js';
import { renderStack } from '../../src/flows/render.js';
import { ROOT } from '../helpers.js';

const V2: ComposeCli = { kind: 'v2', argv: ['docker', 'compose'], version: '2.26.1' };
const load = (processEnv: Record<string, string> = {}) => loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'monitored', processEnv: { POSTGRES_PASSWORD: 'pw-for-the-plan-test', ...processEnv } });
const stack = load();
const ALL = ['db', 'cache', 'web', 'worker', 'front', 'prometheus', 'alertmanager'];
const HASHES = Object.fromEntries(ALL.map((s, i) => [s, String(i + 1).repeat(64)]));
const IMAGES = Object.fromEntries(ALL.map((s) => [s, `sha256:${s}`]));
const running = (hashes: Record<string, string>): ObservedContainer[] =>
  Object.keys(hashes).map((s) => ({ id: `id-${s}`, name: `demo-monitored-${s}-1`, service: s, state: 'running', health: 'healthy', imageId: IMAGES[s], labels: { 'com.docker.compose.config-hash': hashes[s], 'com.docker.compose.version': '2.26.1' } }));

function facts(over: Partial<DeployFacts>): DeployFacts {
  return {
    stack,
    version: 'v2',
    configHash: 'cfg2',
    renderDir: '/s/render/monitored',
    fileCount: 12,
    compose: V2,
    target: { project: 'demo-monitored', files: ['/s/render/monitored/docker-compose.yml', '/s/render/monitored/docker-compose.monitoring.yml'] },
    containers: running(HASHES),
    hashes: HASHES,
    hashesFrom: 'compose',
    imageIds: IMAGES,
    builds: [],
    prev: { run_id: 'R1', version: 'v1', config_hash: 'cfg1' },
    frontChanged: false,
    monitoringChanged: { prometheus: false, alertmanager: false },
    newMigrations: [],
    options: { skipBackup: true },
    ...over,
  };
}
const decision = (f: DeployFacts, s: string) => planDeploy(f).services.find((d) => d.service === s);
const monSteps = (f: DeployFacts) => planDeploy(f).steps.filter((s) => s.kind === 'up-monitoring' || s.kind === 'reload-monitoring');

describe('the deploy plan and the monitoring services', () => {
  it('lists Prometheus and Alertmanager with the stack services, kept when nothing of theirs changed', () => {
    expect(monitoringServices(stack)).toEqual([{ service: 'prometheus', image: 'lifeops/prometheus:local' }, { service: 'alertmanager', image: 'lifeops/alertmanager:local' }]);
    const f = facts({});
    expect(decision(f, 'prometheus')).toMatchObject({ role: 'monitoring', action: 'keep' });
    expect(decision(f, 'alertmanager')).toMatchObject({ role: 'monitoring', action: 'keep' });
    expect(monSteps(f)).toEqual([]);
  });

  it('a changed compose configuration (a new image tag, a flag) recreates that service alone, with --no-deps', () => {
    const f = facts({ hashes: { ...HASHES, prometheus: 'f'.repeat(64) } });
    expect(decision(f, 'prometheus')).toMatchObject({ action: 'recreate', reason: 'configuration changed' });
    const steps = monSteps(f);
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ kind: 'up-monitoring', services: ['prometheus'] });
    expect((steps[0] as { argv: string[] }).argv).toEqual(expect.arrayContaining(['up', '-d', 'prometheus']));
    expect((steps[0] as { argv: string[] }).argv).not.toContain('alertmanager');
    // no reload of a container being replaced: the new one reads the new files as it starts
    expect(monSteps({ ...f, monitoringChanged: { prometheus: true, alertmanager: false } }).map((s) => s.kind)).toEqual(['up-monitoring']);
  });

  it('an image rebuilt under the same tag recreates the exporter; one gone is created', () => {
    expect(decision(facts({ imageIds: { ...IMAGES, alertmanager: 'sha256:newer' } }), 'alertmanager')).toMatchObject({ action: 'recreate', reason: 'image changed' });
    const gone = facts({ containers: running(HASHES).filter((c) => c.service !== 'alertmanager') });
    expect(decision(gone, 'alertmanager')).toMatchObject({ action: 'create', reason: 'no container yet' });
    expect(monSteps(gone)).toMatchObject([{ kind: 'up-monitoring', services: ['alertmanager'] }]);
  });

  it('a changed rule file: promtool check inside the running Prometheus, then a HUP to that container; nothing recreated', () => {
    const f = facts({ monitoringChanged: { prometheus: true, alertmanager: false } });
    expect(decision(f, 'prometheus')).toMatchObject({ action: 'keep' });
    expect(monSteps(f)).toEqual([
      expect.objectContaining({ kind: 'reload-monitoring', service: 'prometheus', container: 'id-prometheus', check: ['promtool', 'check', 'config', '/etc/prometheus/prometheus.yml'], argv: ['docker', 'kill', '--signal', 'HUP', 'id-prometheus'] }),
    ]);
    const text = formatDeployPlan(planDeploy(f)).join('\n');
    expect(text).toContain('$ docker exec id-prometheus promtool check config /etc/prometheus/prometheus.yml\n      $ docker kill --signal HUP id-prometheus');
    // the reload comes after the render step that wrote the files
    const kinds = planDeploy(f).steps.map((s) => s.kind);
    expect(kinds.indexOf('reload-monitoring')).toBeGreaterThan(kinds.indexOf('render'));
  });

  it('a changed alertmanager.yml: amtool check-config, then a HUP; no earlier release: both reload (as the nginx front does)', () => {
    expect(monSteps(facts({ monitoringChanged: { prometheus: false, alertmanager: true } }))).toMatchObject([{ service: 'alertmanager', check: ['amtool', 'check-config', '/etc/alertmanager/alertmanager.yml'], argv: ['docker', 'kill', '--signal', 'HUP', 'id-alertmanager'] }]);
    expect(monSteps(facts({ monitoringChanged: undefined, prev: undefined })).map((s) => s.kind === 'reload-monitoring' && s.service)).toEqual(['prometheus', 'alertmanager']);
  });

  it('a first deploy: one compose up brings the monitoring services, no separate step', () => {
    const f = facts({ containers: [], prev: undefined, monitoringChanged: undefined });
    expect(planDeploy(f).rollout.fresh).toBe(true);
    expect(monSteps(f)).toEqual([]);
    expect(decision(f, 'prometheus')).toMatchObject({ action: 'create' });
  });

  it('which files count: a threshold in the stack file changes the rule file; a web change leaves both unchanged', () => {
    const dir = '/s/render/monitored';
    const before = renderStack(stack, dir);
    const tighter = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'monitored', processEnv: { POSTGRES_PASSWORD: 'pw-for-the-plan-test' } });
    tighter.monitoring!.thresholds.error_rate_ratio = 0.01;
    expect(monitoringFilesChanged(before, renderStack(tighter, dir))).toEqual({ prometheus: true, alertmanager: false });
    const webOnly = load();
    webOnly.services.web.environment = { ...webOnly.services.web.environment, EXTRA: '1' };
    expect(monitoringFilesChanged(before, renderStack(webOnly, dir))).toEqual({ prometheus: false, alertmanager: false });
    expect(monitoringFilesChanged(undefined, before)).toEqual({ prometheus: 'unknown', alertmanager: 'unknown' });
  });

  it('the renderer leaves exactly the reloadable services without a digest of their mounted files (else compose would recreate them)', () => {
    expect(Object.keys(RELOADABLE).sort()).toEqual([...RELOADED_IN_PLACE].sort());
    const mon = renderStack(stack, '/s/render/monitored').find((f) => f.path === 'docker-compose.monitoring.yml')!;
    const doc = parse(mon.content) as { services: Record<string, { labels: Record<string, string> }> };
    for (const s of RELOADED_IN_PLACE) expect(doc.services[s].labels[CONFIG_FILES_LABEL], s).toBeUndefined();
  });

  it('a stack without monitoring: no monitoring service in the plan', () => {
    const local = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'local', processEnv: { POSTGRES_PASSWORD: 'pw' } });
    expect(monitoringServices(local)).toEqual([]);
    const p = planDeploy(facts({ stack: local, monitoringChanged: { prometheus: true, alertmanager: true } }));
    expect(p.services.map((s) => s.service)).not.toContain('prometheus');
    expect(p.steps.some((s) => s.kind === 'reload-monitoring')).toBe(false);
  });
});
