// The state dir in charge of a swarm stack, as for a compose project: its
// services carry the state dir's identity (rendered service labels), and a
// mutating run from another state dir is refused (exit 2) naming the one in
// charge, unless LIFEOPS_TAKE_OVER names it. Scripted swarm, recording port.
import { describe, it, expect } from 'vitest';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { swarmBackupFlow, swarmDeploy } from '../../src/flows/swarm.js';
import { UsageError } from '../../src/errors.js';
import { STATE_DIR_LABEL, STATE_LABEL } from '../../src/plan/ownership.js';
import { stateIdentity } from '../../src/state/engine-lock.js';
import { swarmSetup } from '../swarm-scripted.js';

describe('swarm: the state dir in charge', () => {
  it('a deploy labels every service with its state dir; a backup or deploy from another state dir is refused, changing nothing', async () => {
    const t = swarmSetup('swarm-owner-');
    await swarmDeploy(t.stack, t.run, { stateDir: t.stateDir, commandLine: 'test' });
    const web = t.swarm.services.get(`${t.stack.project}_web`)!;
    expect(web.labels?.[STATE_LABEL]).toBe(stateIdentity(t.stateDir).id);
    expect(web.labels?.[STATE_DIR_LABEL]).toBe(stateIdentity(t.stateDir).dir);

    const other = mkdtempSync(path.join(path.dirname(t.stateDir), 'swarm-owner-other-'));
    t.rec.calls.length = 0;
    const stranger = t.stackAt('sw2', other);
    for (const attempt of [() => swarmBackupFlow(stranger, t.newRun(), { stateDir: other, commandLine: 'test' }), () => swarmDeploy(stranger, t.newRun(), { stateDir: other, commandLine: 'test' })]) {
      const err = (await attempt().catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(UsageError);
      expect(err.message).toContain(stateIdentity(t.stateDir).dir);
    }
    expect(t.rec.changes()).toEqual([]);
  }, 60_000);
});
