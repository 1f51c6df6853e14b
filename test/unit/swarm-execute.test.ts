// The plan is what runs, on swarm: a deploy driven through the recording
// effects port against a scripted two-node swarm (test/swarm-scripted.ts, no
// Docker) makes exactly the changing calls that the dry run of the same run
// printed, for a first deploy and a version change; the dry run itself, on a
// port that refuses every change, reaches none; a failure after the stack
// changed puts the previous release back.
import { describe, it, expect } from 'vitest';
import { swarmDeploy, swarmDeployPlan } from '../../src/flows/swarm.js';
import { shellQuote } from '../../src/commands/compose.js';
import { readReleases } from '../../src/state/ledger.js';
import { swarmSetup } from '../swarm-scripted.js';

const options = (stateDir: string) => ({ stateDir, commandLine: 'test' });

describe('swarm: the executor runs exactly the plan (recording port)', () => {
  it('a first deploy: the stack deployed and converged, then the migrations as a job (created, then removed); nothing else changes', async () => {
    const t = swarmSetup('swarm-execute-');
    const dry = await swarmDeployPlan(t.stack, t.run, options(t.stateDir));
    expect(t.rec.changes()).toEqual([]);
    expect(dry.plan.map((s) => s.kind)).toEqual(['stack-deploy', 'converge', 'migrate', 'smoke', 'record']);
    // what --dry-run prints holds every command, quoted as a shell would take it
    for (const c of dry.plan.flatMap((s) => s.commands)) expect(dry.steps.join('\n')).toContain(shellQuote(c));
    const r = await swarmDeploy(t.stack, t.run, options(t.stateDir));
    expect(r.outcome).toBe('success');
    expect(t.rec.changes()).toEqual(dry.plan.flatMap((s) => s.commands));
    expect(t.rec.changes().map((c) => c.slice(3, 5).join(' '))).toEqual(['stack deploy', 'service create', 'service rm']);
  });

  it('a version change: pre-deploy backup (redis SAVE in its task), migrations between two fingerprints, the stack deployed: exactly the planned changes', async () => {
    const t = swarmSetup('swarm-execute-');
    await swarmDeploy(t.stack, t.run, options(t.stateDir));
    const next = t.newRun();
    t.rec.calls.length = 0;
    const sw2 = t.stackAt('sw2');
    const dry = await swarmDeployPlan(sw2, next, options(t.stateDir));
    expect(t.rec.changes()).toEqual([]);
    expect(dry.plan.map((s) => s.kind)).toEqual(['backup', 'migrate', 'stack-deploy', 'converge', 'smoke', 'record']);
    const r = await swarmDeploy(sw2, next, options(t.stateDir));
    expect(r.outcome).toBe('success');
    expect(r.backup).toBeTruthy();
    expect(t.rec.changes()).toEqual(dry.plan.flatMap((s) => s.commands));
    expect(t.rec.changes().find((c) => c.includes('SAVE'))).toEqual(expect.arrayContaining(['exec', 'redis-cli', 'SAVE']));
    // the database was only read for the dump and the fingerprints
    expect(t.rec.calls.filter((c) => c.kind === 'read' && c.argv.includes('pg_dump'))).toHaveLength(1);
    expect(t.swarm.services.get(`${t.stack.project}_web`)!.image).toMatch(/:sw2$/);
  });

  it('a failure after the stack changed (the smoke test): the previous release deployed again, the ledger says rolled-back', async () => {
    const t = swarmSetup('swarm-execute-');
    await swarmDeploy(t.stack, t.run, options(t.stateDir));
    const next = t.newRun();
    t.rec.calls.length = 0;
    // the front never answers on the new release
    const answer = t.swarm.answer.bind(t.swarm);
    t.swarm.answer = (argv, kind) => (argv[0] === 'GET' ? { exitCode: 1 } : answer(argv, kind));
    await expect(swarmDeploy(t.stackAt('sw2'), next, { ...options(t.stateDir), skipBackup: true })).rejects.toThrow(/smoke test failed[\s\S]*undone: the stack is back on release/);
    const deploys = t.rec.changes().filter((c) => c.includes('deploy'));
    expect(deploys).toHaveLength(2);
    expect(deploys[1].join(' ')).toContain(readReleases(t.stateDir, 'swarm')[0].run_id);
    expect(t.swarm.services.get(`${t.stack.project}_web`)!.image).toMatch(/:sw1$/);
    expect(readReleases(t.stateDir, 'swarm').pop()!.outcome).toBe('rolled-back');
  }, 60_000);
});
