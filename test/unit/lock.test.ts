// The environment lock under real contention: separate processes racing for
// one lock file. A loser must always read a whole lock and name its holder;
// before the lock was linked into place, a loser could read the empty file
// the winner had just created (seen once in CI).
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { mkdtempSync, mkdirSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';
import { Lock, lockPath, describeTakeover, readLock, releaseLock, type LockInfo } from '../../src/state/lock.js';
import { bootId, procStat } from '../../src/util/proc.js';

const CONTENDERS = 12;
const ROUNDS = 40;
const STALE_ROUNDS = 25;

// Each contender loads once and says "ready"; on "go <state dir>" it tries once
// and prints the outcome; a winner holds the lock until it reads "release".
const CONTENDER = `
import { Lock } from ${JSON.stringify(path.join(ROOT, 'src/state/lock.ts'))};
import { createInterface } from 'node:readline';
let lock;
console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  const [command, stateDir] = line.split(' ');
  if (command === 'go') {
    try {
      lock = Lock.acquire(stateDir, 'local', 'contender', new Date(), { run: 'run-' + process.pid });
      console.log(lock.replaced ? 'won replaced ' + lock.replaced.lock.id : 'won');
    } catch (e) {
      console.log('refused: ' + e.message);
    }
  } else if (command === 'flash') {
    // take and let go at once: losers race the release between link and read
    try {
      Lock.acquire(stateDir, 'local', 'contender', new Date()).release();
      console.log('won');
    } catch (e) {
      console.log('refused: ' + e.message);
    }
  } else if (command === 'release') {
    lock?.release();
    lock = undefined;
    console.log('released');
  }
}
`;

function spawnContender(script: string) {
  const child = spawn('node', ['--import', 'tsx', script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => String((await lines.next()).value ?? '');
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return { child, next, exited };
}

const NAMES_HOLDER = /^refused: environment "local" is locked by another run: pid \d+ on \S+, `contender`/;

/** A pid that ran and has exited (reaped). */
const deadPid = () => spawnSync('true').pid!;

/** Write a lock as a run that is not this test would have left it. */
function plantLock(stateDir: string, fields: Partial<LockInfo>): LockInfo {
  const info: LockInfo = { id: 'dead0000beef0001', pid: deadPid(), host: os.hostname(), command: 'lifeops backup', since: '2026-01-01T00:00:00.000Z', env: 'local', run: '20260101T000000Z-dead01', boot_id: bootId(), start_time: '12345', ...fields };
  mkdirSync(path.dirname(lockPath(stateDir, 'local')), { recursive: true });
  writeFileSync(lockPath(stateDir, 'local'), JSON.stringify(info));
  return info;
}

function freshStateDir(): string {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(path.join(base, 'lock-'));
}

/** A live process that is not a lifeops run: its pid is alive, its start time known. */
function liveProcess() {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  return { pid: child.pid!, startTime: () => procStat(child.pid!)!.startTime, stop: () => child.kill('SIGKILL') };
}

/** Start the contenders, run `round` ROUNDS times with a fresh state dir each, then stop them. */
async function raceRounds(round: (send: (line: string) => Promise<string[]>, stateDir: string) => Promise<void>, rounds = ROUNDS): Promise<void> {
  const base = path.join(ROOT, '.tmp-tests');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, 'lock-'));
  const script = path.join(dir, 'contender.mts');
  writeFileSync(script, CONTENDER);
  const contenders = Array.from({ length: CONTENDERS }, () => spawnContender(script));
  const send = async (line: string) => {
    for (const c of contenders) c.child.stdin.write(`${line}\n`);
    return Promise.all(contenders.map((c) => c.next()));
  };
  try {
    expect(await Promise.all(contenders.map((c) => c.next()))).toEqual(Array(CONTENDERS).fill('ready'));
    for (let i = 0; i < rounds; i++) {
      const stateDir = path.join(dir, `round-${i}`);
      await round(send, stateDir);
      // released, and no draft left behind
      expect(readdirSync(path.join(stateDir, 'locks'))).toEqual([]);
    }
  } finally {
    for (const c of contenders) c.child.stdin.end();
    await Promise.all(contenders.map((c) => c.exited));
  }
}

describe('environment lock', () => {
  it(`${CONTENDERS} processes racing ${ROUNDS} times: exactly one wins each round, every loser names the holder`, () =>
    raceRounds(async (send, stateDir) => {
      const outs = await send(`go ${stateDir}`);
      expect(outs.filter((o) => o === 'won')).toHaveLength(1);
      const refused = outs.filter((o) => o !== 'won');
      expect(refused).toHaveLength(CONTENDERS - 1);
      for (const r of refused) expect(r).toMatch(NAMES_HOLDER);
      expect(await send('release')).toEqual(Array(CONTENDERS).fill('released'));
    }));

  // Seen in CI: the holder removed its lock between a loser's failed link and its read.
  it('a holder that lets go while a loser reads its lock: the loser takes it or names a holder, never "unreadable"', () =>
    raceRounds(async (send, stateDir) => {
      const outs = await send(`flash ${stateDir}`);
      expect(outs.filter((o) => o === 'won').length).toBeGreaterThanOrEqual(1);
      for (const r of outs.filter((o) => o !== 'won')) expect(r).toMatch(NAMES_HOLDER);
    }));

  it('a second acquire in the same state dir is refused until the first is released', () => {
    const base = path.join(ROOT, '.tmp-tests');
    mkdirSync(base, { recursive: true });
    const stateDir = mkdtempSync(path.join(base, 'lock-'));
    const first = Lock.acquire(stateDir, 'production', 'first', new Date());
    expect(() => Lock.acquire(stateDir, 'production', 'second', new Date())).toThrow(/locked by another run: .*`first`/);
    const other = Lock.acquire(stateDir, 'staging', 'other env', new Date());
    first.release();
    const second = Lock.acquire(stateDir, 'production', 'second', new Date());
    expect(readdirSync(path.dirname(lockPath(stateDir, 'production'))).sort()).toEqual(['production.lock', 'staging.lock']);
    second.release();
    other.release();
  });

  it('a stale lock from a dead pid is taken over, and the takeover names the replaced run', () => {
    const stateDir = freshStateDir();
    const dead = plantLock(stateDir, {});
    const lock = Lock.acquire(stateDir, 'local', 'lifeops backup', new Date(), { run: 'mine' });
    expect(lock.replaced?.lock.id).toBe(dead.id);
    expect(lock.replaced?.reason).toBe(`pid ${dead.pid} is not running`);
    expect(describeTakeover(lock.replaced!)).toMatch(new RegExp(`^took over the stale lock of run 20260101T000000Z-dead01 \\(pid ${dead.pid} on .*\`lifeops backup\`.*\\): pid ${dead.pid} is not running$`));
    // ours now, recorded whole: host, boot, pid, start time, run
    const mine = readLock(lockPath(stateDir, 'local'))!;
    expect(mine).toMatchObject({ pid: process.pid, host: os.hostname(), boot_id: bootId(), start_time: procStat(process.pid)!.startTime, run: 'mine' });
    lock.release();
    expect(readdirSync(path.join(stateDir, 'locks'))).toEqual([]);
  });

  it('a pid now used by another process (its start time differs) is taken over', () => {
    const stateDir = freshStateDir();
    const other = liveProcess();
    try {
      const planted = plantLock(stateDir, { pid: other.pid, start_time: String(Number(other.startTime()) - 1) });
      const lock = Lock.acquire(stateDir, 'local', 'next', new Date());
      expect(lock.replaced?.lock.id).toBe(planted.id);
      expect(lock.replaced?.reason).toMatch(new RegExp(`^pid ${other.pid} is now another process`));
      lock.release();
    } finally {
      other.stop();
    }
  });

  it('a lock from an earlier boot is taken over even when its pid runs now', () => {
    const stateDir = freshStateDir();
    const other = liveProcess();
    try {
      plantLock(stateDir, { pid: other.pid, start_time: other.startTime(), boot_id: '00000000-0000-0000-0000-000000000000' });
      const lock = Lock.acquire(stateDir, 'local', 'next', new Date());
      expect(lock.replaced?.reason).toBe('the machine has booted since');
      lock.release();
    } finally {
      other.stop();
    }
  });

  it('a live holder (same pid and start time) and a holder on another host are never taken', () => {
    const stateDir = freshStateDir();
    const other = liveProcess();
    try {
      const live = plantLock(stateDir, { pid: other.pid, start_time: other.startTime() });
      expect(() => Lock.acquire(stateDir, 'local', 'next', new Date())).toThrow(new RegExp(`locked by another run: pid ${other.pid} .*lock ${live.id}`));
      expect(readLock(lockPath(stateDir, 'local'))?.id).toBe(live.id);
      expect(() => releaseLock(stateDir, live.id, false)).toThrow(/held by a live process/);
    } finally {
      other.stop();
    }
    // a dead pid, but on another host: nothing can be proven from here
    const foreign = plantLock(stateDir, { host: 'elsewhere.example', id: 'f0f0f0f0f0f0f0f0' });
    expect(() => Lock.acquire(stateDir, 'local', 'next', new Date())).toThrow(/locked by another run: pid \d+ on elsewhere\.example/);
    expect(readLock(lockPath(stateDir, 'local'))?.id).toBe(foreign.id);
    expect(readdirSync(path.join(stateDir, 'locks'))).toEqual(['local.lock']);
  });

  it('an old lock without boot id or start time is taken over when its pid is gone', () => {
    const stateDir = freshStateDir();
    plantLock(stateDir, { boot_id: undefined, start_time: undefined, run: undefined });
    const lock = Lock.acquire(stateDir, 'local', 'next', new Date());
    expect(describeTakeover(lock.replaced!)).toMatch(/^took over the stale lock of lock dead0000beef0001 /);
    lock.release();
  });

  it('a run that died while taking a stale lock over: its claim is stale too, and the next run takes both over', () => {
    const stateDir = freshStateDir();
    const dead = plantLock(stateDir, {});
    const claim = `${lockPath(stateDir, 'local')}.replaces-${dead.id}`;
    writeFileSync(claim, JSON.stringify({ ...dead, id: 'c1a1c1a1c1a1c1a1', run: 'died-claiming', pid: deadPid() }));
    const lock = Lock.acquire(stateDir, 'local', 'next', new Date());
    expect(lock.replaced?.lock.id).toBe(dead.id);
    lock.release();
    expect(readdirSync(path.join(stateDir, 'locks'))).toEqual([]);
  });

  it('`lock release` removes a stale lock, never the one that replaced it', () => {
    const stateDir = freshStateDir();
    const dead = plantLock(stateDir, {});
    expect(releaseLock(stateDir, dead.id, false).id).toBe(dead.id);
    expect(existsSync(lockPath(stateDir, 'local'))).toBe(false);
  });

  it('--wait: a live holder that lets go after 2 s is waited for; one that keeps it fails naming it', async () => {
    const stateDir = freshStateDir();
    const script = path.join(stateDir, 'contender.mts');
    writeFileSync(script, CONTENDER);
    const holder = spawnContender(script);
    try {
      expect(await holder.next()).toBe('ready');
      holder.child.stdin.write(`go ${stateDir}\n`);
      expect(await holder.next()).toBe('won');
      // too short a wait: fails naming the holder
      const t0 = Date.now();
      await expect(Lock.acquireWaiting(stateDir, 'local', 'waiter', () => new Date(), { waitMs: 600, pollMs: 100 })).rejects.toThrow(
        new RegExp(`locked by another run: pid ${holder.child.pid} on \\S+, \`contender\`.*still held after waiting 1s`),
      );
      expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
      // the holder lets go after 2 s: a 5 s wait gets it
      const released = new Promise<void>((resolve) =>
        setTimeout(() => {
          holder.child.stdin.write('release\n');
          resolve();
        }, 2000),
      );
      const waits: string[] = [];
      const t1 = Date.now();
      const lock = await Lock.acquireWaiting(stateDir, 'local', 'waiter', () => new Date(), { waitMs: 5000, onWait: (h) => waits.push(h.command) });
      const waited = Date.now() - t1;
      await released;
      expect(await holder.next()).toBe('released');
      expect(waits).toEqual(['contender']);
      expect(waited).toBeGreaterThanOrEqual(1900);
      expect(waited).toBeLessThan(5000);
      expect(lock.replaced).toBeUndefined();
      lock.release();
    } finally {
      holder.child.stdin.end();
      await holder.exited;
    }
  });

  // the slowest test of the lane on a loaded 2-core machine (12 processes, a dead pid made per round): its own timeout
  it(`${CONTENDERS} processes racing ${STALE_ROUNDS} times over the same stale lock: exactly one takes it over each round`, { timeout: 240_000 }, () =>
    raceRounds(async (send, stateDir) => {
      const dead = plantLock(stateDir, { id: `dead${String(Math.random()).slice(2, 14).padEnd(12, '0')}` });
      const outs = await send(`go ${stateDir}`);
      expect(outs.filter((o) => o.startsWith('won'))).toEqual([`won replaced ${dead.id}`]);
      const refused = outs.filter((o) => !o.startsWith('won'));
      expect(refused).toHaveLength(CONTENDERS - 1);
      for (const r of refused) expect(r).toMatch(NAMES_HOLDER);
      expect(await send('release')).toEqual(Array(CONTENDERS).fill('released'));
    }, STALE_ROUNDS));
});
