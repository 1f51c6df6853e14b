// The environment lock under real contention: separate processes racing for
// one lock file. A loser must always read a whole lock and name its holder;
// before the lock was linked into place, a loser could read the empty file
// the winner had just created (seen once in CI).
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';
import { Lock, lockPath } from '../../src/state/lock.js';

const CONTENDERS = 12;
const ROUNDS = 40;

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
      lock = Lock.acquire(stateDir, 'local', 'contender', new Date());
      console.log('won');
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

/** Start the contenders, run `round` ROUNDS times with a fresh state dir each, then stop them. */
async function raceRounds(round: (send: (line: string) => Promise<string[]>, stateDir: string) => Promise<void>): Promise<void> {
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
    for (let i = 0; i < ROUNDS; i++) {
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
});
