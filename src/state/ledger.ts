// The release ledger: one JSON line per deploy or rollback, append-only; and
// one `crashed` line for each run that died holding the lock (any mutating
// command), written by the run that took its lock over.
import { readFileSync } from 'node:fs';
import { appendPrivate, mkdirPrivate } from '../util/private-files.js';

export interface ReleaseRecord {
  run_id: string;
  kind: 'deploy' | 'rollback' | 'backup' | 'down' | 'other';
  env: string;
  time: string;
  duration_ms: number;
  version: string;
  user: string;
  images: Record<string, string>;
  config_hash: string;
  outcome: 'success' | 'failed' | 'rolled-back' | 'crashed';
  migrations_ran?: boolean;
  backup?: string;
  render_dir?: string;
  /** compose's per-service config hashes this release was planned with */
  service_hashes?: Record<string, string>;
  /** salted digest of everything those hashes depend on (see composeInputsDigest) */
  inputs_digest?: string;
  error?: string;
  /** crashed: the run that found it dead and recovered after it */
  recovered_by?: string;
}

export { ledgerFile as ledgerPath } from './paths.js';
import { ledgerFile as ledgerPath } from './paths.js';

/** The one writer of release records (deploys and rollbacks alike). */
export function recordRelease(stateDir: string, rec: ReleaseRecord): void {
  mkdirPrivate(stateDir);
  appendPrivate(ledgerPath(stateDir), JSON.stringify(rec) + '\n');
}

export function readReleases(stateDir: string, env?: string): ReleaseRecord[] {
  let text = '';
  try {
    text = readFileSync(ledgerPath(stateDir), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as ReleaseRecord];
      } catch {
        return [];
      }
    })
    .filter((r) => !env || r.env === env);
}

/** The newest release of an environment that succeeded: what a failed deploy or `rollback --release` returns to. */
export function lastGoodRelease(stateDir: string, env: string): ReleaseRecord | undefined {
  return readReleases(stateDir, env)
    .filter((r) => r.outcome === 'success')
    .pop();
}

/** What a lock's command line was: `lifeops ... deploy local` is a deploy. */
export function kindOfCommand(command: string): ReleaseRecord['kind'] {
  const words = command.split(/\s+/);
  for (const k of ['deploy', 'rollback', 'backup', 'down'] as const) if (words.includes(k)) return k;
  return 'other';
}

/**
 * Mark a dead run `crashed`: its lock says who it was and since when, its
 * step log (when there is one) how far it got. Once per run.
 */
export function recordCrashed(
  stateDir: string,
  dead: { run?: string; id: string; command: string; since: string; env: string; user?: string; pid: number; host: string },
  o: { by: string; reason: string; lastEvent?: string; lastStep?: string; now: Date },
): ReleaseRecord | undefined {
  const runId = dead.run ?? `lock-${dead.id}`;
  if (readReleases(stateDir).some((r) => r.run_id === runId && r.outcome === 'crashed')) return undefined;
  const end = o.lastEvent ? new Date(o.lastEvent) : o.now;
  const version = /--version[ =](\S+)/.exec(dead.command)?.[1] ?? '-';
  const rec: ReleaseRecord = {
    run_id: runId,
    kind: kindOfCommand(dead.command),
    env: dead.env,
    time: dead.since,
    duration_ms: Math.max(0, end.getTime() - new Date(dead.since).getTime()),
    version,
    user: dead.user ?? '-',
    images: {},
    config_hash: '',
    outcome: 'crashed',
    error: `pid ${dead.pid} on ${dead.host} died holding the lock (${o.reason})${o.lastStep ? `; last step started: ${o.lastStep}` : ''}`,
    recovered_by: o.by,
  };
  recordRelease(stateDir, rec);
  return rec;
}

/** @deprecated name kept while callers move to recordRelease */
export const appendRelease = recordRelease;
