// One mutating run per stack and environment: a lock file that appears whole.
// It is written under a private name and hard-linked into place (link fails
// with EEXIST like O_EXCL), so a racing run never reads a half-written lock.
//
// The lock records the holder's host, boot id, pid and the process's start
// time (field 22 of /proc/<pid>/stat), and the run id. A holder on this host
// that is provably gone (its pid is not running, is a zombie, is now another
// process because the start time differs, or the machine booted since) is
// taken over by the next run; a holder that is alive, or on another host
// (nothing can be proven from here), is never taken.
//
// Taking over a stale lock S is done under a claim named after S's id,
// `<lock>.replaces-<S.id>`, made with link(2) (one winner). The claimant checks
// that the lock still is S, then renames its own lock over it: the path is
// never empty, so no third run can slip in, and S, once replaced, never comes
// back (ids are unique), so a late claimant of S sees it is gone and backs
// off. A claimant that died holding its claim is itself a stale lock of the
// claim file and is replaced the same way, one level down.
import { chmodSync, readFileSync, rmSync, readdirSync, linkSync, renameSync } from 'node:fs';
import { mkdirPrivate, PRIVATE_FILE } from '../util/private-files.js';
import path from 'node:path';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { LockHeldError, UsageError } from '../errors.js';
import { writeFileSynced } from '../util/durable.js';
import { bootId, pidExists, procStat } from '../util/proc.js';
import { lockFile, locksDir } from './paths.js';

export interface LockInfo {
  id: string;
  pid: number;
  host: string;
  command: string;
  since: string;
  env: string;
  /** the run holding the lock (its step log is logs/<run>.jsonl) */
  run?: string;
  /** /proc/sys/kernel/random/boot_id of the holder's machine */
  boot_id?: string;
  /** field 22 of /proc/<pid>/stat: the holder's start time in clock ticks since boot */
  start_time?: string;
  user?: string;
}

export { lockFile as lockPath } from './paths.js';

export function readLock(file: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------ is the holder alive?

export type HolderState = { state: 'alive' | 'gone' | 'foreign'; reason: string };

/** Whether the holder of a lock still runs, and why we think so. Only 'gone' may be taken over. */
export function holderState(lock: LockInfo): HolderState {
  if (lock.host !== os.hostname()) return { state: 'foreign', reason: `held on another host (${lock.host}): cannot tell from here` };
  const boot = bootId();
  if (lock.boot_id && boot && lock.boot_id !== boot) return { state: 'gone', reason: 'the machine has booted since' };
  // another user's process exists too: the start time below tells whether it is the holder
  if (!pidExists(lock.pid)) return { state: 'gone', reason: `pid ${lock.pid} is not running` };
  const stat = procStat(lock.pid);
  if (!stat) return { state: 'alive', reason: `pid ${lock.pid} is running` };
  if (lock.start_time && stat.startTime !== lock.start_time) {
    return { state: 'gone', reason: `pid ${lock.pid} is now another process (started at tick ${stat.startTime}, the holder at ${lock.start_time})` };
  }
  if (stat.state === 'Z' || stat.state === 'X') return { state: 'gone', reason: `pid ${lock.pid} has exited (not yet reaped)` };
  return { state: 'alive', reason: `pid ${lock.pid} is running` };
}

export function isStale(lock: LockInfo): boolean {
  return holderState(lock).state === 'gone';
}

export function describeLock(l: LockInfo): string {
  return `pid ${l.pid} on ${l.host}, \`${l.command}\`, since ${l.since} (lock ${l.id}${l.run ? `, run ${l.run}` : ''})`;
}

function heldError(file: string, env: string, holder: LockInfo | undefined): LockHeldError {
  if (!holder) return new LockHeldError(`environment "${env}" is locked (${file} is unreadable)`, `inspect and remove ${file}`);
  const h = holderState(holder);
  if (h.state === 'gone') {
    // only while a live run is taking it over, or when it cannot be replaced here
    return new LockHeldError(`environment "${env}" has a stale lock: ${describeLock(holder)}; that process is gone (${h.reason})`, `lifeops lock release ${holder.id}`);
  }
  const err = new LockHeldError(`environment "${env}" is locked by another run: ${describeLock(holder)}`, h.state === 'foreign' ? `${h.reason}; if that run is really gone: lifeops lock release ${holder.id} --force` : 'wait for it to finish (--wait DURATION)');
  return Object.assign(err, { holder, live: true });
}

/** A sleep for synchronous code (a takeover in progress takes microseconds). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const uniqueName = (file: string, tag: string) => `${file}.${tag}-${process.pid}-${randomBytes(6).toString('hex')}`;

/**
 * Replace the stale lock `stale` at `file` with the content of `draft`; true
 * when this process did it. At most one process ever replaces one given stale
 * lock. With `remove`, the stale lock is removed instead (lock release).
 */
function replaceStale(file: string, stale: LockInfo, draft: string, depth = 0, remove = false): boolean {
  const claim = `${file}.replaces-${stale.id}`;
  for (let attempt = 0; ; attempt++) {
    try {
      linkSync(draft, claim);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const claimant = readLock(claim);
      if (!claimant) {
        if (attempt < 20) continue; // released meanwhile: claim it now
        return false;
      }
      // a live run is taking it over; a dead claimant's claim is replaced like any stale lock
      if (depth < 4 && holderState(claimant).state === 'gone' && replaceStale(claim, claimant, draft, depth + 1)) break;
      return false;
    }
  }
  // we hold the claim (its content is ours): only we may replace `stale` now
  try {
    if (readLock(file)?.id !== stale.id) return false; // replaced (or released) before we claimed
    if (remove) rmSync(file, { force: true });
    else {
      const tmp = uniqueName(file, 'taking');
      linkSync(draft, tmp);
      renameSync(tmp, file);
    }
    return true;
  } finally {
    rmSync(claim, { force: true });
  }
}

export interface Replaced {
  lock: LockInfo;
  reason: string;
}

export interface AcquireOptions {
  /** the run id recorded in the lock (the recovery of a dead run reads it) */
  run?: string;
  /** false: the caller handles SIGINT/SIGTERM itself (undo, then exit) and releases the lock; default: let go of it and die */
  handleSignals?: boolean;
  file?: string; // where the lock lives; default: the state dir's lock of `env` (state/engine-lock.ts: the engine-wide one)
  mode?: number; // the lock file's mode; default private (the engine-wide lock: readable by its folder's group)
}

/** One line for the log: which dead run's lock was taken over, and why it is known to be dead. */
export function describeTakeover(r: Replaced): string {
  return `took over the stale lock of ${r.lock.run ? `run ${r.lock.run}` : `lock ${r.lock.id}`} (${describeLock(r.lock)}): ${r.reason}`;
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
    /** the dead run's lock this one replaced */
    readonly replaced?: Replaced,
  ) {}

  static acquire(stateDir: string, env: string, command: string, now: Date, opts: AcquireOptions = {}): Lock {
    const file = opts.file ?? lockFile(stateDir, env);
    if (!opts.file) mkdirPrivate(path.dirname(file)); // the engine-wide lock's folder is shared: state/engine-lock.ts makes it
    const self = procStat(process.pid);
    const boot = bootId();
    const info: LockInfo = {
      id: randomBytes(8).toString('hex'),
      pid: process.pid,
      host: os.hostname(),
      command,
      since: now.toISOString(),
      env,
      ...(opts.run ? { run: opts.run } : {}),
      ...(boot ? { boot_id: boot } : {}),
      ...(self ? { start_time: self.startTime } : {}),
      user: os.userInfo().username,
    };
    const draft = `${file}.${info.id}.tmp`;
    writeFileSynced(draft, JSON.stringify(info, null, 2) + '\n', 'wx', opts.mode ?? PRIVATE_FILE);
    if (opts.mode !== undefined) chmodSync(draft, opts.mode); // whatever the umask
    let replaced: Replaced | undefined;
    try {
      // The holder may release between our failed link and our read of its lock:
      // then the lock is free, so try again rather than report an unreadable one.
      // A stale holder being replaced by another run: wait (briefly) for that run's lock.
      for (let attempt = 1; ; attempt++) {
        try {
          linkSync(draft, file);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          const holder = readLock(file);
          if (!holder) {
            if (attempt >= 200) throw heldError(file, env, holder);
            continue;
          }
          const h = holderState(holder);
          if (h.state !== 'gone') throw heldError(file, env, holder);
          if (replaceStale(file, holder, draft)) {
            replaced = { lock: holder, reason: h.reason };
            break;
          }
          if (attempt >= 200) throw heldError(file, env, readLock(file));
          pause(Math.min(attempt, 10));
        }
      }
    } finally {
      rmSync(draft, { force: true });
    }
    const lock = new Lock(file, info, replaced);
    if (opts.handleSignals !== false) {
      process.once('SIGINT', lock.onSignal);
      process.once('SIGTERM', lock.onSignal);
    }
    return lock;
  }

  /**
   * acquire, but a live holder is waited for (polled) up to `waitMs`; then the
   * error names the holder. `onWait` hears once that we wait, and for whom.
   */
  static async acquireWaiting(
    stateDir: string,
    env: string,
    command: string,
    now: () => Date,
    opts: AcquireOptions & { waitMs?: number; onWait?: (holder: LockInfo) => void; pollMs?: number } = {},
  ): Promise<Lock> {
    const deadline = Date.now() + (opts.waitMs ?? 0);
    let told = false;
    for (;;) {
      try {
        return Lock.acquire(stateDir, env, command, now(), opts);
      } catch (e) {
        const live = e instanceof LockHeldError && (e as LockHeldError & { live?: boolean }).live;
        if (!live || !opts.waitMs) throw e;
        const holder = (e as LockHeldError & { holder: LockInfo }).holder;
        if (Date.now() >= deadline) {
          throw new LockHeldError(`${e.message}; still held after waiting ${Math.round(opts.waitMs / 1000)}s`, e.hint);
        }
        if (!told) opts.onWait?.(holder);
        told = true;
        await new Promise((r) => setTimeout(r, Math.min(opts.pollMs ?? 250, Math.max(10, deadline - Date.now()))));
      }
    }
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
  // under the same claim a takeover uses: never removes a lock that replaced this one meanwhile
  const draft = uniqueName(found.file, 'release');
  writeFileSynced(draft, JSON.stringify({ id: randomBytes(8).toString('hex'), pid: process.pid, host: os.hostname(), command: 'lock release', since: new Date().toISOString(), env: found.env, start_time: procStat(process.pid)?.startTime, boot_id: bootId() } satisfies LockInfo) + '\n', 'wx', PRIVATE_FILE);
  try {
    if (!replaceStale(found.file, found, draft, 0, true)) throw new LockHeldError(`lock ${id} changed while releasing it`, 'see `lifeops lock status`');
  } finally {
    rmSync(draft, { force: true });
  }
  return found;
}
