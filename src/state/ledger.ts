// The release ledger: one JSON line per deploy or rollback, append-only.
import { appendFileSync, readFileSync, mkdirSync } from 'node:fs';

export interface ReleaseRecord {
  run_id: string;
  kind: 'deploy' | 'rollback';
  env: string;
  time: string;
  duration_ms: number;
  version: string;
  user: string;
  images: Record<string, string>;
  config_hash: string;
  outcome: 'success' | 'failed' | 'rolled-back';
  migrations_ran?: boolean;
  backup?: string;
  render_dir?: string;
  /** compose's per-service config hashes this release was planned with */
  service_hashes?: Record<string, string>;
  /** salted digest of everything those hashes depend on (see composeInputsDigest) */
  inputs_digest?: string;
  error?: string;
}

export { ledgerFile as ledgerPath } from './paths.js';
import { ledgerFile as ledgerPath } from './paths.js';

/** The one writer of release records (deploys and rollbacks alike). */
export function recordRelease(stateDir: string, rec: ReleaseRecord): void {
  mkdirSync(stateDir, { recursive: true });
  appendFileSync(ledgerPath(stateDir), JSON.stringify(rec) + '\n');
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

/** @deprecated name kept while callers move to recordRelease */
export const appendRelease = recordRelease;
