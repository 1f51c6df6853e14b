// The deploy plan is data made by a pure function from what was observed:
// golden tests of the plan for the demo stack in the situations a deploy meets.
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { loadStack } from '../../src/config/load.js';
import { planDeploy, formatDeployPlan, datastoresToStart, dataToStartWhy, type DeployFacts } from '../../src/plan/deploy.js';
import type { ObservedContainer } from '../../src/plan/rollout.js';
import type { ComposeCli } from '../../src/commands/compose.js';
import { ROOT } from '../helpers.js';

const V2: ComposeCli = { kind: 'v2', argv: ['docker', 'compose'], version: '2.26.1' };
const stack = loadStack({ file: path.join(ROOT, 'stacks/demo.yaml'), env: 'local', processEnv: { POSTGRES_PASSWORD: 'pw-for-the-plan-test' } });
const HASHES = { db: 'a'.repeat(64), cache: 'b'.repeat(64), web: 'c'.repeat(64), worker: 'd'.repeat(64), front: 'e'.repeat(64) };
const IMAGES = { db: 'sha256:db', cache: 'sha256:cache', web: 'sha256:app1', worker: 'sha256:app1', front: 'sha256:nginx' };
const running = (hashes: Record<string, string>, images: Record<string, string>, composeVersion = '2.26.1'): ObservedContainer[] =>
  Object.keys(hashes).map((s) => ({ id: `id-${s}`, name: `demo-local-${s}-1`, service: s, state: 'running', health: 'healthy', imageId: images[s], labels: { 'com.docker.compose.config-hash': hashes[s], 'com.docker.compose.version': composeVersion } }));

function facts(over: Partial<DeployFacts>): DeployFacts {
  return {
    stack,
    version: 'v2',
    configHash: 'cfg2',
    renderDir: '/s/render/local',
    fileCount: 9,
    compose: V2,
    target: { project: 'demo-local', files: ['/s/render/local/docker-compose.yml'] },
    containers: running(HASHES, IMAGES),
    hashes: HASHES,
    hashesFrom: 'compose',
    imageIds: IMAGES,
    builds: [{ image: 'lifeops/demo-app:v2', services: ['web', 'worker'], argv: ['docker', 'build', '-t', 'lifeops/demo-app:v2', '/demo/app'], present: true }],
    prev: { run_id: 'R1', version: 'v1', config_hash: 'cfg1' },
    frontChanged: false,
    newMigrations: [],
    options: {},
    ...over,
  };
}
const steps = (f: DeployFacts) => planDeploy(f).steps.map((s) => s.kind);
const actions = (f: DeployFacts) => Object.fromEntries(planDeploy(f).services.map((s) => [s.service, `${s.action}: ${s.reason}`]));

describe('the deploy plan', () => {
  it('first deploy: build, datastores first, then one compose up of everything, no backup (nothing runs yet)', () => {
    const f = facts({ containers: [], prev: undefined, frontChanged: 'unknown', builds: [{ ...facts({}).builds[0], present: false }], newMigrations: ['0001_create_visits.sql'] });
    expect(steps(f)).toEqual(['render', 'build', 'up-infra', 'wait-infra', 'migrate', 'up-apps', 'wait-healthy', 'checks', 'record', 'prune']);
    const plan = planDeploy(f);
    expect(plan.notes).toContain('no running stack yet and no data kept: no pre-deploy backup needed');
    expect(steps(f)).not.toContain('start-data');
    expect(plan.steps.find((s) => s.kind === 'up-apps')).toMatchObject({ argv: ['docker', 'compose', '-p', 'demo-local', '-f', '/s/render/local/docker-compose.yml', 'up', '-d', '--remove-orphans'] });
  });

  it('unchanged: every service kept, no compose command at all, no backup', () => {
    const f = facts({ configHash: 'cfg1', hashesFrom: 'release' });
    expect(steps(f)).toEqual(['render', 'wait-healthy', 'checks', 'record']);
    expect(new Set(Object.values(actions(f)))).toEqual(new Set(['keep: configuration and image unchanged']));
  });

  it('a new version: backup, web rolls beside the old, worker up --no-deps, db/cache/front kept; no migration file is new: no migrations container', () => {
    const changed = { ...HASHES, web: 'f'.repeat(64), worker: '9'.repeat(64) };
    const f = facts({ hashes: changed });
    expect(actions(f)).toEqual({
      db: 'keep: configuration and image unchanged',
      cache: 'keep: configuration and image unchanged',
      web: 'roll: configuration changed',
      worker: 'recreate: configuration changed',
      front: 'keep: configuration and image unchanged',
    });
    expect(formatDeployPlan(planDeploy(f)).slice(7)).toEqual([
      '   1. pre-deploy backup',
      '   2. render 9 files',
      '   3. roll web: 1 new beside 1 running, then stop the old',
      '      $ docker compose -p demo-local -f /s/render/local/docker-compose.yml up -d --no-recreate --scale web=2 web',
      '      $ docker stop -t 25 id-web',
      '      $ docker rm id-web',
      '   4. compose up --no-deps worker (while web rolls)',
      '      $ docker compose -p demo-local -f /s/render/local/docker-compose.yml up -d worker',
      '   5. wait for every service to be healthy',
      '   6. check health and readiness endpoints',
      '   7. record the release',
      '   8. apply backup retention',
      "   9. prune the stack's images and stopped containers no kept release (newest 5) or backup refers to",
    ]);
    expect(planDeploy(f).notes).toContain('migrations: no new file in ../demo/app/migrations since the last release: no migrations container');
  });

  it('a new version with a new migration file: the migrations container runs before web rolls', () => {
    const f = facts({ hashes: { ...HASHES, web: 'f'.repeat(64), worker: '9'.repeat(64) }, newMigrations: ['0002_referrer.sql'] });
    expect(steps(f)).toEqual(['backup', 'render', 'migrate', 'roll', 'up-apps', 'wait-healthy', 'checks', 'record', 'retention', 'prune']);
    expect(formatDeployPlan(planDeploy(f))).toContain('   3. migrations: python3 migrate.py in a one-off web container (1 new file)');
  });

  it('only the front configuration changed: a graceful reload, no container touched', () => {
    const f = facts({ configHash: 'cfg1b', frontChanged: true });
    expect(steps(f)).toEqual(['backup', 'render', 'reload-front', 'wait-healthy', 'checks', 'record', 'retention']);
  });

  it('a switch from compose v1 to v2 is named as the reason; web rolls, datastores are recreated before the apps', () => {
    const f = facts({ containers: running({ db: 'x'.repeat(64), cache: 'y'.repeat(64), web: 'z'.repeat(64), worker: 'w'.repeat(64), front: 'v'.repeat(64) }, IMAGES, '1.29.2') });
    expect(actions(f).db).toBe('recreate: created by compose 1.29.2; compose 2.26.1 hashes configurations differently');
    expect(actions(f).web).toMatch(/^roll: created by compose 1\.29\.2/);
    expect(steps(f).indexOf('up-infra')).toBeLessThan(steps(f).indexOf('roll'));
  });

  it('--skip-backup and a rebuilt image: no backup step, services of that image planned as changed', () => {
    const f = facts({ options: { skipBackup: true, build: true }, configHash: 'cfg1' });
    const plan = planDeploy(f);
    expect(plan.notes).toContain('pre-deploy backup skipped (--skip-backup)');
    expect(actions(f).web).toBe('roll: its image is built by this deploy');
    expect(steps(f)).toContain('build');
  });
});

// A `down` killed half-way (issue 14) leaves datastores stopped, or removed with
// their volumes kept: the pre-deploy backup reads them through running containers.
describe('the deploy plan after a killed down: datastores up before the pre-deploy backup', () => {
  const stopped = (services: string[]): ObservedContainer[] => running(HASHES, IMAGES).filter((c) => services.includes(c.service)).map((c) => ({ ...c, state: 'exited', health: 'none' }));

  it('db and cache stopped, the apps removed, same configuration: db and cache started as they are, waited for, then the backup', () => {
    const f = facts({ configHash: 'cfg1', hashesFrom: 'release', containers: stopped(['db', 'cache']), storedData: ['db', 'cache'] });
    const plan = planDeploy(f);
    expect(steps(f).slice(0, 3)).toEqual(['start-data', 'backup', 'render']);
    expect(plan.steps[0]).toMatchObject({
      services: ['db', 'cache'],
      argv: ['docker', 'compose', '-p', 'demo-local', '-f', '/s/render/local/docker-compose.yml', 'up', '-d', '--no-recreate', 'db', 'cache'],
      title: 'start db, cache for the pre-deploy backup (db: stopped; cache: stopped), then wait for them to be healthy',
    });
    // the rest of the deploy as for a stack that runs nothing: datastores, migrations, then every service
    expect(steps(f).slice(3)).toEqual(['up-infra', 'wait-infra', 'up-apps', 'wait-healthy', 'checks', 'record', 'retention', 'prune']);
  });

  it('db removed with its volume kept, cache stopped: both brought up (db created from its volume) before the backup', () => {
    const f = facts({ containers: stopped(['cache']), storedData: ['db'] });
    const plan = planDeploy(f);
    expect(plan.steps[0]).toMatchObject({ kind: 'start-data', services: ['db', 'cache'] });
    expect(plan.steps[0].title).toMatch(/db: no container, its volume kept; cache: stopped/);
    expect(steps(f)[1]).toBe('backup');
  });

  it('no container at all but the volumes kept: the data is backed up first, so a deploy cannot lose it', () => {
    const f = facts({ containers: [], storedData: ['db'] });
    expect(steps(f).slice(0, 3)).toEqual(['start-data', 'backup', 'render']);
    expect(planDeploy(f).steps[0]).toMatchObject({ services: ['db'] });
  });

  it('a running db and a stopped cache: only the cache is started', () => {
    const f = facts({ containers: [...running({ db: HASHES.db }, IMAGES), ...stopped(['cache'])], storedData: ['db', 'cache'] });
    expect(planDeploy(f).steps[0]).toMatchObject({ kind: 'start-data', services: ['cache'] });
  });

  it('a db the engine is restarting is left to the backup (it waits for it); every datastore running: no start step', () => {
    const restarting = running({ db: HASHES.db }, IMAGES).map((c) => ({ ...c, state: 'restarting', health: 'starting' }));
    expect(planDeploy(facts({ containers: [...restarting, ...running({ cache: HASHES.cache, web: HASHES.web }, IMAGES)] })).steps.map((s) => s.kind)).not.toContain('start-data');
    expect(steps(facts({}))).not.toContain('start-data');
  });

  it('no backup planned (--skip-backup, backup.before_deploy off): nothing started ahead of the deploy', () => {
    const f = facts({ containers: stopped(['db', 'cache']), storedData: ['db'], options: { skipBackup: true } });
    expect(steps(f)).not.toContain('start-data');
    expect(steps(f)[0]).toBe('render');
    const off = facts({ stack: { ...stack, backup: { ...stack.backup, before_deploy: false } }, containers: stopped(['db']) });
    expect(steps(off)).not.toContain('start-data');
  });

  it('compose v1: --no-deps as well, so the datastores only are started', () => {
    const V1: ComposeCli = { kind: 'v1', argv: ['docker-compose'], version: '1.29.2' };
    const f = facts({ compose: V1, containers: stopped(['db']) });
    expect(planDeploy(f).steps[0]).toMatchObject({ argv: ['docker-compose', '--compatibility', '-p', 'demo-local', '-f', '/s/render/local/docker-compose.yml', 'up', '-d', '--no-deps', '--no-recreate', 'db'] });
  });

  it('the dry run prints the start step with its command before the backup', () => {
    const lines = formatDeployPlan(planDeploy(facts({ containers: stopped(['db', 'cache']) })));
    const i = lines.findIndex((l) => /1\. start db, cache for the pre-deploy backup/.test(l));
    expect(i).toBeGreaterThan(0);
    expect(lines[i + 1]).toMatch(/\$ docker compose .* up -d --no-recreate db cache$/);
    expect(lines[i + 2]).toMatch(/2\. pre-deploy backup/);
  });

  // a rollback <backup> restores into the datastores: on a host where they are
  // down, or have never run (a new machine), it starts them first (fresh: true)
  it('for a rollback: stopped, volume kept, and never created (a new, empty one the restore fills) are all started', () => {
    expect(datastoresToStart(stack, stopped(['db']), [], true)).toEqual([
      { service: 'db', state: 'stopped' },
      { service: 'cache', state: 'new' },
    ]);
    expect(datastoresToStart(stack, [], ['cache'], true).map((d) => d.state)).toEqual(['new', 'volume kept']);
    expect(dataToStartWhy(datastoresToStart(stack, [], ['cache'], true))).toBe('db: no container and no data yet: a new one; cache: no container, its volume kept');
    // a deploy leaves a datastore with no data alone (its own rollout creates it)
    expect(datastoresToStart(stack, [], ['cache'])).toEqual([{ service: 'cache', state: 'volume kept' }]);
    expect(datastoresToStart(stack, running(HASHES, IMAGES), [], true)).toEqual([]);
  });
});
