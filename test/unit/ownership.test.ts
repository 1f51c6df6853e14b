// Who is in charge of a compose project (the state dir whose label its
// containers carry), the identity of a state dir, the labels the compose file
// gives every container, and the engine-wide lock that two state dirs share.
import { describe, it, expect } from 'vitest';
import { chmodSync, chownSync, mkdtempSync, mkdirSync, readdirSync, symlinkSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { whoIsInCharge, refusal, inChargeMessage, takesOver, STATE_LABEL, STATE_DIR_LABEL, STATE_HOST_LABEL, TAKE_OVER_ENV, type LabeledContainer } from '../../src/plan/ownership.js';
import { acquireEngineLock, engineLockFile, prepareEngineLockDir, realPathOf, stateIdentity } from '../../src/state/engine-lock.js';
import { evaluateStatus, type StatusFacts } from '../../src/plan/status.js';
import { loadStack } from '../../src/config/load.js';
import { renderCompose } from '../../src/render/compose.js';
import { LockHeldError } from '../../src/errors.js';
import { ROOT } from '../helpers.js';

const A = { id: 'aaaaaaaaaaaaaaaa', dir: '/srv/ci/app/.lifeops', host: 'box' };
const B = { id: 'bbbbbbbbbbbbbbbb', dir: '/home/me/app/.lifeops', host: 'box' };
const c = (name: string, owner?: typeof A): LabeledContainer => ({
  name,
  labels: { 'com.docker.compose.project': 'demo', ...(owner ? { [STATE_LABEL]: owner.id, [STATE_DIR_LABEL]: owner.dir, [STATE_HOST_LABEL]: owner.host } : {}) },
});

describe('who is in charge of a project', () => {
  it('no containers: unclaimed (a first deploy claims it)', () => {
    expect(whoIsInCharge(B, [])).toEqual({ kind: 'unclaimed', containers: 0 });
  });

  it('containers without a state label (an older lifeops, a plain compose up): unclaimed', () => {
    expect(whoIsInCharge(B, [c('demo-web-1'), c('demo-db-1')])).toEqual({ kind: 'unclaimed', containers: 2 });
  });

  it('every labelled container is ours: ours (unlabelled ones beside them do not matter)', () => {
    expect(whoIsInCharge(A, [c('demo-web-1', A), c('demo-db-1', A), c('demo-old-1')])).toEqual({ kind: 'ours', containers: 2 });
  });

  it("another state dir's containers: other, naming it and its containers", () => {
    const o = whoIsInCharge(B, [c('demo-web-1', A), c('demo-db-1', A)]);
    expect(o).toEqual({ kind: 'other', owner: A, containers: ['demo-db-1', 'demo-web-1'], also: [] });
  });

  it('one foreign container among ours is enough: never half taken over silently', () => {
    const o = whoIsInCharge(B, [c('demo-web-1', B), c('demo-db-1', A)]);
    expect(o.kind).toBe('other');
    expect(o.kind === 'other' && o.owner).toEqual(A);
  });

  it('two other states: the one with most containers is named in charge, the other beside it', () => {
    const C = { id: 'cccccccccccccccc', dir: '/opt/c/.lifeops', host: 'box' };
    const o = whoIsInCharge(B, [c('demo-web-1', C), c('demo-db-1', A), c('demo-cache-1', A)]);
    expect(o).toEqual({ kind: 'other', owner: A, containers: ['demo-cache-1', 'demo-db-1'], also: [C] });
  });

  it('the refusal names the state dir in charge and says how to use it', () => {
    const o = whoIsInCharge(B, [c('demo-web-1', A)]);
    if (o.kind !== 'other') throw new Error('expected other');
    const r = refusal('demo', B, o, true);
    expect(r.message).toContain(`managed by the state dir ${A.dir}`);
    expect(r.message).toContain(`not by this one (${B.dir})`);
    expect(r.message).toContain('demo-web-1');
    expect(r.hint).toMatch(new RegExp(`^run it with that state dir: lifeops --state-dir ${A.dir} \\.\\.\\.; `));
    // a state dir that is gone: --state-dir to it would not help
    expect(refusal('demo', B, o, false).hint).toMatch(/no longer exists/);
    // on another host: run it there
    const far = whoIsInCharge(B, [c('demo-web-1', { ...A, host: 'other-box' })]);
    if (far.kind !== 'other') throw new Error('expected other');
    const rf = refusal('demo', B, far, false);
    expect(rf.message).toContain(`${A.dir} on host other-box`);
    expect(rf.hint).toMatch(new RegExp(`^run it on other-box with --state-dir ${A.dir};`));
  });
});

describe('the identity of a state dir', () => {
  it('is the same through a symlink and before the dir exists, and differs between dirs', () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'own-id-'));
    mkdirSync(path.join(base, 'real'));
    symlinkSync(path.join(base, 'real'), path.join(base, 'link'));
    const viaReal = stateIdentity(path.join(base, 'real', 'state'));
    const viaLink = stateIdentity(path.join(base, 'link', 'state'));
    expect(viaLink).toEqual(viaReal);
    expect(viaReal.dir).toBe(path.join(realPathOf(base), 'real', 'state'));
    expect(viaReal.id).toMatch(/^[0-9a-f]{16}$/);
    expect(stateIdentity(path.join(base, 'other')).id).not.toBe(viaReal.id);
    mkdirSync(path.join(base, 'real', 'state'));
    expect(stateIdentity(path.join(base, 'link', 'state')).id).toBe(viaReal.id);
  });
});

describe('the compose file labels every container with the state dir in charge', () => {
  it('lifeops.state, lifeops.state_dir and lifeops.state_host on every service; none without an owner', () => {
    const stack = loadStack({ file: path.join(ROOT, 'stacks', 'demo.yaml'), env: 'local', processEnv: {} });
    const bare = parse(renderCompose(stack, '/tmp/r')) as { services: Record<string, { labels: Record<string, string> }> };
    for (const s of Object.values(bare.services)) expect(s.labels[STATE_LABEL]).toBeUndefined();
    const owned = parse(renderCompose({ ...stack, owner: A }, '/tmp/r')) as typeof bare;
    expect(Object.keys(owned.services).length).toBeGreaterThan(2);
    for (const [name, s] of Object.entries(owned.services)) {
      expect(s.labels, name).toMatchObject({ [STATE_LABEL]: A.id, [STATE_DIR_LABEL]: A.dir, [STATE_HOST_LABEL]: A.host });
      expect(whoIsInCharge(B, [{ name, labels: s.labels }])).toMatchObject({ kind: 'other', owner: A });
    }
  });
});

describe('status from a state dir that is not in charge', () => {
  const facts = (inCharge?: StatusFacts['in_charge']): StatusFacts => ({
    project: 'demo',
    env: 'local',
    now: '2026-12-07T04:00:00.000Z',
    duration_ms: 1,
    engine: { ok: true, duration_ms: 1 },
    services: [],
    probes: [],
    due_since: '2026-12-01T00:00:00.000Z',
    backups: { count: 0, duration_ms: 0 },
    lock: { held: false },
    disks: [],
    tls: [],
    ...(inCharge ? { in_charge: inCharge } : {}),
  });
  const thresholds = loadStack({ file: path.join(ROOT, 'stacks', 'demo.yaml'), env: 'local', processEnv: {} }).status;

  it('judges backups, drills and releases against its own ledger when it is in charge', () => {
    const r = evaluateStatus(facts(), thresholds);
    expect(r.checks.map((x) => x.check)).toEqual(expect.arrayContaining(['backup freshness', 'restore drill', 'last deploy']));
    expect(r.checks.find((x) => x.check === 'state dir in charge')).toBeUndefined();
  });

  it('says which state dir is in charge instead of judging its ledger', () => {
    const r = evaluateStatus(facts({ owner: A, self: B }), thresholds);
    const names = r.checks.map((x) => x.check);
    expect(names).not.toContain('backup freshness');
    expect(names).not.toContain('verified backup');
    expect(names).not.toContain('restore drill');
    expect(names).not.toContain('last deploy');
    const check = r.checks.find((x) => x.check === 'state dir in charge')!;
    expect(check.level).toBe('WARNING');
    expect(check.message).toBe(inChargeMessage(B, A));
    expect(check.message).toContain(`lifeops --state-dir ${A.dir} status`);
    expect(r.level).toBe('WARNING');
  });
});

describe('the engine-wide lock of a project', () => {
  const opts = (dir: string, stateDir: string, project = 'demo') => ({
    dir,
    engineKey: 'engine:TEST:ID',
    project,
    env: 'local',
    command: `lifeops deploy local`,
    stateDir,
    now: () => new Date(),
  });

  it('one holder per (engine, project) whatever the state dir; the refusal names the holder and its state dir', async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'own-lock-')), 'locks');
    prepareEngineLockDir(dir, undefined);
    expect(statSync(dir).mode & 0o7777).toBe(0o2770);
    const a = await acquireEngineLock(opts(dir, '/srv/a/.lifeops'));
    try {
      const err = await acquireEngineLock(opts(dir, '/srv/b/.lifeops')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LockHeldError);
      expect((err as Error).message).toMatch(/^project "demo" on this engine \(.*\) is locked by another run: pid \d+ on .*`lifeops deploy local \(state dir \/srv\/a\/\.lifeops\)`/);
      // another project on the same engine, or the same project on another engine: free
      (await acquireEngineLock(opts(dir, '/srv/b/.lifeops', 'other'))).release();
      (await acquireEngineLock({ ...opts(dir, '/srv/b/.lifeops'), engineKey: 'engine:ANOTHER' })).release();
      // --wait: waits for the holder to let go
      setTimeout(() => a.release(), 300);
      const t0 = Date.now();
      const b = await acquireEngineLock({ ...opts(dir, '/srv/b/.lifeops'), waitMs: 10_000 });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      b.release();
    } finally {
      a.release();
    }
  });

  it('a holder killed with -9 (its pid gone) is taken over', async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'own-lock-')), 'locks');
    prepareEngineLockDir(dir, undefined);
    const file = engineLockFile(dir, 'engine:TEST:ID', 'demo');
    // a dead holder: a pid that ran and exited
    const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    writeFileSync(file, JSON.stringify({ id: 'deadbeefdeadbeef', pid: Number(dead), host: os.hostname(), command: 'lifeops deploy local (state dir /srv/a/.lifeops)', since: new Date().toISOString(), env: 'local' }));
    const b = await acquireEngineLock(opts(dir, '/srv/b/.lifeops'));
    expect(b.replaced?.lock.id).toBe('deadbeefdeadbeef');
    b.release();
  });

  it('made by whoever comes first: the group of the engine socket, setgid, 2770', () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'own-lock-'));
    const socket = path.join(base, 'docker.sock');
    writeFileSync(socket, '');
    if (process.getuid?.() === 0) chownSync(socket, 0, 4242);
    const dir = path.join(base, 'locks');
    prepareEngineLockDir(dir, socket);
    expect(statSync(dir).mode & 0o7777).toBe(0o2770);
    expect(statSync(dir).gid).toBe(statSync(socket).gid);
  });

  it.runIf(process.getuid?.() === 0)('shared by users: another user in the socket\'s group is refused by root\'s live lock and takes over its dead one', async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'own-lock-'));
    chmodSync(base, 0o755);
    const socket = path.join(base, 'docker.sock');
    writeFileSync(socket, '');
    chownSync(socket, 0, 4242);
    const dir = path.join(base, 'locks');
    prepareEngineLockDir(dir, socket);
    const asOther = () => {
      const script = `import { acquireEngineLock } from ${JSON.stringify(path.join(ROOT, 'src/state/engine-lock.ts'))};
try { const l = await acquireEngineLock({ dir: ${JSON.stringify(dir)}, engineKey: 'engine:TEST:ID', project: 'demo', env: 'local', command: 'lifeops backup', stateDir: '/home/other/.lifeops', now: () => new Date() });
  console.log('won' + (l.replaced ? ' replaced ' + l.replaced.lock.id : '')); l.release(); } catch (e) { console.log('refused: ' + e.message); }`;
      // uid nobody, in the group of the socket (as a user of the docker group is)
      return spawnSync('node', ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, uid: 65534, gid: 4242, env: { ...process.env, HOME: '/tmp' }, encoding: 'utf8' });
    };
    const held = await acquireEngineLock(opts(dir, '/root/app/.lifeops'));
    try {
      const r = asOther();
      expect(r.stdout, r.stderr).toMatch(/^refused: project "demo" on this engine .* is locked by another run: pid \d+ .*\(state dir \/root\/app\/\.lifeops\)/);
    } finally {
      held.release();
    }
    const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    writeFileSync(engineLockFile(dir, 'engine:TEST:ID', 'demo'), JSON.stringify({ id: 'feedfacefeedface', pid: Number(dead), host: os.hostname(), command: 'lifeops deploy local (state dir /root/app/.lifeops)', since: new Date().toISOString(), env: 'local' }), { mode: 0o644 });
    const r = asOther();
    expect(r.stdout.trim(), r.stderr).toBe('won replaced feedfacefeedface');
    expect(readdirSync(dir)).toEqual([]);
  });

  it.runIf(process.getuid?.() === 0)('a lock folder this user cannot write is a usage error naming it and what to do (checked as nobody)', () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'own-lock-')), 'locks');
    prepareEngineLockDir(dir, undefined); // root's, group root, 2770: nobody may not write
    chmodSync(path.dirname(dir), 0o755);
    const script = `import { prepareEngineLockDir } from ${JSON.stringify(path.join(ROOT, 'src/state/engine-lock.ts'))};
try { prepareEngineLockDir(${JSON.stringify(dir)}, undefined); console.log('no error'); } catch (e) { console.log(e.constructor.name + ' ' + e.exitCode + ': ' + e.message + ' HINT ' + e.hint); }`;
    const r = spawnSync('node', ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, uid: 65534, gid: 65534, env: { ...process.env, HOME: '/tmp' }, encoding: 'utf8' });
    expect(r.stdout, r.stderr).toContain(`UsageError 2: cannot take the engine-wide lock: ${dir} is not writable by this user (owner uid 0, group gid 0, mode 2770)`);
    expect(r.stdout).toContain('LIFEOPS_LOCK_DIR');
  });
});

describe('taking a project over (LIFEOPS_TAKE_OVER=<id of the state dir in charge>)', () => {
  it('goes on only when every other state dir seen is named', () => {
    const C = { id: 'cccccccccccccccc', dir: '/opt/c/.lifeops', host: 'box' };
    const one = whoIsInCharge(B, [c('demo-web-1', A)]);
    expect(takesOver(one, A.id)).toBe(true);
    expect(takesOver(one, undefined)).toBe(false);
    expect(takesOver(one, '')).toBe(false);
    expect(takesOver(one, C.id)).toBe(false);
    const two = whoIsInCharge(B, [c('demo-web-1', A), c('demo-db-1', C)]);
    expect(takesOver(two, A.id)).toBe(false);
    expect(takesOver(two, `${A.id},${C.id}`)).toBe(true);
    expect(takesOver(whoIsInCharge(B, [c('demo-web-1', B)]), A.id)).toBe(false);
  });

  it('the refusal tells how', () => {
    const o = whoIsInCharge(B, [c('demo-web-1', A)]);
    if (o.kind !== 'other') throw new Error('expected other');
    expect(refusal('demo', B, o, true).hint).toContain(`${TAKE_OVER_ENV}=${A.id} lifeops deploy`);
  });
});
