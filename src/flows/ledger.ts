// The release ledger: one JSON line per deploy or rollback, append-only.
import { appendFileSync, readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

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

export const ledgerPath = (stateDir: string) => path.join(stateDir, 'releases.jsonl');

export function appendRelease(stateDir: string, rec: ReleaseRecord): void {
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
