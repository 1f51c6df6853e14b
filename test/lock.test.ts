// The environment lock under real contention: separate processes racing for
// one lock file. A loser must always read a whole lock and name its holder;
// before the lock was linked into place, a loser could read the empty file
// the winner had just created (seen once in CI).
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.js';
import { Lock, lockPath } from '../src/flows/lock.js';

const CONTENDERS = 12;
const ROUNDS = 40;

// Each contender loads once and says "ready"; on "go <state dir>" it tries once
// and prints the outcome; a winner holds the lock until it reads "release".
const CONTENDER = `
import { Lock } from ${JSON.stringify(path.join(ROOT, 'src/flows/lock.ts'))};
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

describe('environment lock', () => {
  it(`${CONTENDERS} processes racing ${ROUNDS} times: exactly one wins each round, every loser names the holder`, async () => {
    const base = path.join(ROOT, '.tmp-tests');
    mkdirSync(base, { recursive: true });
    const dir = mkdtempSync(path.join(base, 'lock-'));
    const script = path.join(dir, 'contender.mts');
    writeFileSync(script, CONTENDER);
    const contenders = Array.from({ length: CONTENDERS }, () => spawnContender(script));
    try {
      expect(await Promise.all(contenders.map((c) => c.next()))).toEqual(Array(CONTENDERS).fill('ready'));
      for (let round = 0; round < ROUNDS; round++) {
        const stateDir = path.join(dir, `round-${round}`);
        for (const c of contenders) c.child.stdin.write(`go ${stateDir}\n`);
        const outs = await Promise.all(contenders.map((c) => c.next()));
        expect(outs.filter((o) => o === 'won')).toHaveLength(1);
        const refused = outs.filter((o) => o !== 'won');
        expect(refused).toHaveLength(CONTENDERS - 1);
        for (const r of refused) expect(r).toMatch(/^refused: environment "local" is locked by another run: pid \d+ on \S+, `contender`/);
        for (const c of contenders) c.child.stdin.write('release\n');
        expect(await Promise.all(contenders.map((c) => c.next()))).toEqual(Array(CONTENDERS).fill('released'));
        // released, and no draft left behind
        expect(readdirSync(path.join(stateDir, 'locks'))).toEqual([]);
      }
    } finally {
      for (const c of contenders) c.child.stdin.end();
      await Promise.all(contenders.map((c) => c.exited));
    }
  });

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
