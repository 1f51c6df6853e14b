// The pure recovery decisions (src/plan/recovery.ts): what a dead run left,
// and what the next mutating run does about it, in which order.
import { describe, it, expect } from 'vitest';
import { planRecovery, stoppedAppsFromLog, surplus, type RecoveryContainer, type RecoveryFacts } from '../../src/plan/recovery.js';
import type { Service, Stack } from '../../src/config/schema.js';

const svc = (role: string, extra: Partial<Service> = {}) => ({ role, replicas: 1, ...extra }) as unknown as Service;
const stack = {
  services: {
    db: svc('postgres', { healthcheck: { test: 'pg_isready' } } as Partial<Service>),
    web: svc('web', { healthcheck: { test: 'curl' } } as Partial<Service>),
    worker: svc('worker'),
    front: svc('front'),
  },
  front: { service: 'front', kind: 'nginx' },
} as unknown as Pick<Stack, 'services' | 'front'>;

let n = 0;
const c = (service: string, state = 'running', health = 'none', created = `2026-01-01T00:00:0${n}Z`): RecoveryContainer => ({ id: `id${++n}`, name: `p-${service}-${n}`, service, state, health, created, number: n });
const running = () => [c('db', 'running', 'healthy'), c('worker'), c('front')];
const files = [
  { path: 'docker-compose.yml', content: 'v1' },
  { path: 'nginx/nginx.conf', content: 'server a' },
];
const facts = (f: Partial<RecoveryFacts>): RecoveryFacts => ({ project: 'p', stack, containers: [...running(), c('web', 'running', 'healthy')], oneOffs: [], tmpFolders: [], rendered: files, release: { run_id: 'R1', version: 'v1', files }, ...f });

describe('recovery plan', () => {
  it('nothing left over: nothing to do', () => {
    expect(planRecovery(facts({}))).toEqual([]);
    expect(planRecovery(facts({ release: undefined, rendered: [] }))).toEqual([]);
  });

  it('a dead run: marked crashed first, then one-offs, then incomplete backups, in that order', () => {
    const plan = planRecovery(
      facts({
        deadRun: { run: 'D1', lock: 'L1', command: 'lifeops deploy local', reason: 'pid 7 is not running', stoppedApps: [] },
        oneOffs: [{ id: 'o1', name: 'p-web-run-1', state: 'running', kind: 'compose-run', service: 'web' }, { id: 'o2', name: 'restore-x', state: 'exited', kind: 'restore' }],
        tmpFolders: ['.tmp-20260101T000000Z-abcdef.p'],
      }),
    );
    expect(plan.map((a) => a.kind)).toEqual(['mark-crashed', 'remove-oneoff', 'remove-oneoff', 'remove-tmp']);
    expect(plan[0]).toMatchObject({ run: 'D1', title: 'recovery: mark run D1 crashed in the ledger (pid 7 is not running)' });
    expect(plan[1].title).toBe('recovery: let it finish or stop, then remove the one-off web container (compose run) p-web-run-1 left by a dead run');
    expect(plan[2].title).toBe('recovery: remove the restore client restore-x left by a dead run');
    expect(plan[3]).toMatchObject({ folders: ['.tmp-20260101T000000Z-abcdef.p'] });
  });

  it('a web service scaled up by a dead rollout: the serving ones are kept, oldest first; the newest or not serving go', () => {
    const web = stack.services.web;
    // both serve: the release in force (older) stays
    const [oldOk, newOk] = [c('web', 'running', 'healthy', '2026-01-01T00:00:01Z'), c('web', 'running', 'healthy', '2026-01-01T00:00:09Z')];
    expect(surplus(web, [newOk, oldOk])).toEqual({ keep: [oldOk], remove: [newOk] });
    // the new one never became ready
    const starting = c('web', 'running', 'starting', '2026-01-01T00:00:09Z');
    expect(surplus(web, [oldOk, starting])).toEqual({ keep: [oldOk], remove: [starting] });
    // the old one was already stopped: the new one serves and stays
    const oldStopped = c('web', 'exited', 'none', '2026-01-01T00:00:01Z');
    expect(surplus(web, [oldStopped, newOk])).toEqual({ keep: [newOk], remove: [oldStopped] });
    // as many as wanted: nothing
    expect(surplus(web, [oldOk])).toBeUndefined();
    // three for two wanted
    const two = { ...web, replicas: 2 } as Service;
    const third = c('web', 'created', 'none', '2026-01-01T00:00:09Z');
    expect(surplus(two, [oldOk, newOk, third])).toEqual({ keep: [oldOk, newOk], remove: [third] });

    const plan = planRecovery(facts({ containers: [...running(), oldOk, starting] }));
    expect(plan).toHaveLength(1);
    expect(plan[0]).toMatchObject({ kind: 'remove-surplus', service: 'web', keep: [oldOk], remove: [starting] });
    expect(plan[0].title).toMatch(/^recovery: web has 2 containers for 1 wanted: keep p-web-\d+, remove p-web-\d+ \(running, starting\)$/);
    // a worker (recreated, not rolled) is not a rollout's leftover
    expect(planRecovery(facts({ containers: [...running(), c('worker'), oldOk] }))).toEqual([]);
  });

  it('rendered files that differ from the last release: put back, and the front reloaded when its files changed and it runs', () => {
    const changed = [files[0], { path: 'nginx/nginx.conf', content: 'server b' }];
    const plan = planRecovery(facts({ rendered: changed }));
    expect(plan).toEqual([expect.objectContaining({ kind: 'restore-render', release: 'R1', files, stray: [], reloadFront: true })]);
    expect(plan[0].title).toBe("recovery: the rendered files differ from release R1 (version v1) and no run is deploying them: put the release's files back and reload the front");
    // only the compose file changed: no reload
    const composeOnly = [{ path: 'docker-compose.yml', content: 'v2' }, files[1]];
    expect(planRecovery(facts({ rendered: composeOnly }))).toEqual([expect.objectContaining({ kind: 'restore-render', reloadFront: false })]);
    // the front is not running: nothing to reload
    expect(planRecovery(facts({ rendered: changed, containers: [c('db'), c('web', 'running', 'healthy')] }))[0]).toMatchObject({ reloadFront: false });
    // a killed writeRendered left a temporary file: removed, the rest is the release's
    expect(planRecovery(facts({ rendered: [...files, { path: 'nginx/nginx.conf.tmp-4242', content: 'half' }] }))).toEqual([expect.objectContaining({ kind: 'restore-render', stray: ['nginx/nginx.conf.tmp-4242'], reloadFront: false })]);
    // the order of the files does not matter; no release kept: nothing to go back to
    expect(planRecovery(facts({ rendered: [...files].reverse() }))).toEqual([]);
    expect(planRecovery(facts({ rendered: changed, release: undefined }))).toEqual([]);
  });

  it('app services a dead run stopped are started; ones it started again or that run are left alone', () => {
    const events = [
      { step: 'run', event: 'info', detail: {} },
      { step: 'apps', event: 'info', detail: { stopping: ['web', 'worker', 'front'] } },
      { step: 'stop app services', event: 'start' },
    ];
    expect(stoppedAppsFromLog(events)).toEqual(['web', 'worker', 'front']);
    expect(stoppedAppsFromLog([...events, { step: 'apps', event: 'info', detail: { started: ['web', 'worker', 'front'] } }])).toEqual([]);
    // a restore then stops Redis while its files are replaced: both lists count, and Redis alone is started again after
    const redis = [...events, { step: 'apps', event: 'info', detail: { stopping: ['cache'] } }];
    expect(stoppedAppsFromLog(redis)).toEqual(['web', 'worker', 'front', 'cache']);
    expect(stoppedAppsFromLog([...redis, { step: 'apps', event: 'info', detail: { started: ['cache'] } }])).toEqual(['web', 'worker', 'front']);
    const stoppedWeb = c('web', 'exited');
    const plan = planRecovery(
      facts({
        deadRun: { run: 'D2', lock: 'L2', command: 'lifeops rollback X', reason: 'gone', stoppedApps: ['web', 'worker', 'front'] },
        containers: [c('db', 'running', 'healthy'), stoppedWeb, c('worker', 'exited'), c('front')],
      }),
    );
    expect(plan.map((a) => a.kind)).toEqual(['mark-crashed', 'start-apps']);
    expect(plan[1]).toMatchObject({ services: ['web', 'worker'], title: 'recovery: start web, worker (stopped by the dead run and never started again)' });
    // without a dead run that says it stopped them, a stopped service is the operator's business
    expect(planRecovery(facts({ containers: [c('db'), stoppedWeb, c('worker', 'exited'), c('front')] }))).toEqual([]);
  });
});
