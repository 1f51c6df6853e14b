// The lock of a project on an engine, whatever the state dir. The state dir's
// own lock (lock.ts) serializes the runs of one checkout; two checkouts of one
// stack have two state dirs and so two of those. Every mutating run also takes
// this one: a file keyed by (engine, project) in one folder of the host, taken
// and judged exactly like the state dir's lock (a dead holder, even one killed
// with -9, is known by its pid and start time and taken over).
//
// The folder is /run/lock/lifeops (LIFEOPS_LOCK_DIR to move it). Whoever
// makes it gives it the group of the engine's socket and mode 2770: every
// user who may drive the engine (root, the docker group) can take, replace
// and release its locks; nobody else can block them. /run/lock is emptied at
// boot, as every lock in it is stale by then.
//
// Also here: the identity of a state dir (stateIdentity), the label that the
// containers it manages carry (render/compose.ts, plan/ownership.ts).
import { createHash } from 'node:crypto';
import { accessSync, chmodSync, chownSync, constants, existsSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LockHeldError, UsageError } from '../errors.js';
import { Lock, type LockInfo } from './lock.js';

export const DEFAULT_ENGINE_LOCK_DIR = '/run/lock/lifeops';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** The real path of `p`, also when it does not exist yet (its nearest existing parent resolved, the rest appended). */
export function realPathOf(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  for (let cur = abs; ; cur = path.dirname(cur)) {
    try {
      return path.join(realpathSync(cur), ...rest.reverse());
    } catch {
      if (path.dirname(cur) === cur) return abs;
      rest.push(path.basename(cur));
    }
  }
}

/** This machine's id (systemd's /etc/machine-id, stable across renames of the host), else its host name. */
export function machineId(): string {
  for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(f, 'utf8').trim();
      if (id) return id;
    } catch {
      /* next */
    }
  }
  return os.hostname();
}

/**
 * A state dir as the containers it manages name it: a stable id (its real
 * path on this machine, hashed: the same for every path that leads to it,
 * different for the same path on another machine), the path, the host.
 */
export function stateIdentity(stateDir: string): { id: string; dir: string; host: string } {
  const dir = realPathOf(stateDir);
  return { id: sha(`${machineId()}\0${dir}`).slice(0, 16), dir, host: os.hostname() };
}

export function engineLockDir(env: Record<string, string | undefined>): string {
  return env.LIFEOPS_LOCK_DIR ? path.resolve(env.LIFEOPS_LOCK_DIR) : DEFAULT_ENGINE_LOCK_DIR;
}

/** `<project>.<engine>.lock`: the engine part is a digest of its id (a swarm: of its cluster's). */
export function engineLockFile(dir: string, engineKey: string, project: string): string {
  return path.join(dir, `${project}.${sha(engineKey).slice(0, 12)}.lock`);
}

/** The engine's unix socket on this host, when it is reached through one (its group may drive the engine). */
export function engineSocket(env: Record<string, string | undefined>): string | undefined {
  const h = env.DOCKER_HOST;
  if (!h) return '/var/run/docker.sock';
  return h.startsWith('unix://') ? h.slice('unix://'.length) : undefined;
}

/**
 * Make the lock folder if it is not there (group of the engine's socket,
 * mode 2770), and check that this user can write to it; if not, a usage
 * error saying whose it is and what to do.
 */
export function prepareEngineLockDir(dir: string, socket: string | undefined): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    try {
      if (socket) chownSync(dir, -1, statSync(socket).gid);
      chmodSync(dir, 0o2770);
    } catch {
      /* made at the same time by another user, who set it up */
    }
  }
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    let owner = '';
    try {
      const st = statSync(dir);
      owner = ` (owner uid ${st.uid}, group gid ${st.gid}, mode ${(st.mode & 0o7777).toString(8)})`;
    } catch {
      /* not even that */
    }
    throw new UsageError(
      `cannot take the engine-wide lock: ${dir} is not writable by this user${owner}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      `add this user to the group of the Docker socket, or make the folder shared (chgrp docker ${dir}; chmod 2770 ${dir}), or set LIFEOPS_LOCK_DIR to a folder every user of this engine can write`,
    );
  }
}

export interface EngineLockOptions {
  dir: string;
  engineKey: string;
  project: string;
  env: string;
  /** the command line, and the state dir it runs from (both recorded in the lock, for whoever waits for it) */
  command: string;
  stateDir: string;
  now: () => Date;
  run?: string;
  waitMs?: number;
  onWait?: (holder: LockInfo) => void;
}

/** The engine-wide lock of a project (waited for up to waitMs). Signals are left to the state dir's lock it is held with. */
export async function acquireEngineLock(o: EngineLockOptions): Promise<Lock> {
  const file = engineLockFile(o.dir, o.engineKey, o.project);
  try {
    return await Lock.acquireWaiting(o.stateDir, o.env, `${o.command} (state dir ${o.stateDir})`, o.now, { file, mode: 0o640, run: o.run, waitMs: o.waitMs, onWait: o.onWait, handleSignals: false });
  } catch (e) {
    if (!(e instanceof LockHeldError)) throw e;
    const message = e.message.replace(`environment "${o.env}"`, `project "${o.project}" on this engine (${file})`);
    throw Object.assign(new LockHeldError(message, e.hint), { holder: (e as LockHeldError & { holder?: LockInfo }).holder });
  }
}
