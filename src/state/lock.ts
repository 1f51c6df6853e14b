// One mutating run per stack and environment: a lock file that appears whole.
// It is written under a private name and hard-linked into place (link fails
// with EEXIST like O_EXCL), so a racing run never reads a half-written lock.
// A lock whose process is gone (same host, dead pid) is reported as stale,
// with the command that clears it; a live lock is never taken over.
import { readFileSync, rmSync, mkdirSync, readdirSync, linkSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { LockHeldError, UsageError } from '../errors.js';
import { writeFileSynced } from '../util/durable.js';
import { lockFile, locksDir } from './paths.js';

export interface LockInfo {
  id: string;
  pid: number;
  host: string;
  command: string;
  since: string;
  env: string;
}

export { lockFile as lockPath } from './paths.js';

export function readLock(file: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

export function isStale(lock: LockInfo): boolean {
  if (lock.host !== os.hostname()) return false; // cannot tell: treat as live
  try {
    process.kill(lock.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export function describeLock(l: LockInfo): string {
  return `pid ${l.pid} on ${l.host}, \`${l.command}\`, since ${l.since} (lock ${l.id})`;
}

function heldError(file: string, env: string, holder: LockInfo | undefined): LockHeldError {
  if (!holder) return new LockHeldError(`environment "${env}" is locked (${file} is unreadable)`, `inspect and remove ${file}`);
  if (isStale(holder)) {
    return new LockHeldError(
      `environment "${env}" has a stale lock: ${describeLock(holder)}; that process is gone`,
      `lifeops lock release ${holder.id}`,
    );
  }
  return new LockHeldError(`environment "${env}" is locked by another run: ${describeLock(holder)}`, 'wait for it to finish');
}

export class Lock {
  private released = false;
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.release();
    process.kill(process.pid, sig);
  };

  private constructor(
    readonly file: string,
    readonly info: LockInfo,
  ) {}

  static acquire(stateDir: string, env: string, command: string, now: Date): Lock {
    const file = lockFile(stateDir, env);
    mkdirSync(path.dirname(file), { recursive: true });
    const info: LockInfo = { id: randomBytes(4).toString('hex'), pid: process.pid, host: os.hostname(), command, since: now.toISOString(), env };
    const draft = `${file}.${info.id}.tmp`;
    writeFileSynced(draft, JSON.stringify(info, null, 2) + '\n', 'wx', 0o644);
    try {
      // The holder may release between our failed link and our read of its lock:
      // then the lock is free, so try again rather than report an unreadable one.
      for (let attempt = 1; ; attempt++) {
        try {
          linkSync(draft, file);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          const holder = readLock(file);
          if (holder || attempt >= 20) throw heldError(file, env, holder);
        }
      }
    } finally {
      rmSync(draft, { force: true });
    }
    const lock = new Lock(file, info);
    process.once('SIGINT', lock.onSignal);
    process.once('SIGTERM', lock.onSignal);
    return lock;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
    const current = readLock(this.file);
    if (current?.id === this.info.id) rmSync(this.file, { force: true });
  }
}

export function listLocks(stateDir: string): (LockInfo & { stale: boolean; file: string })[] {
  const dir = locksDir(stateDir);
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.lock'));
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const file = path.join(dir, n);
    const l = readLock(file);
    return l ? [{ ...l, stale: isStale(l), file }] : [];
  });
}

/** Release by id: only a stale lock, or with force. Never a live one silently. */
export function releaseLock(stateDir: string, id: string, force: boolean): LockInfo {
  const found = listLocks(stateDir).find((l) => l.id === id);
  if (!found) throw new UsageError(`no lock with id ${id}`, 'see `lifeops lock status`');
  if (!found.stale && !force) {
    throw new LockHeldError(`lock ${id} is held by a live process: ${describeLock(found)}`, 'wait for it, or stop that process first');
  }
  rmSync(found.file, { force: true });
  return found;
}
