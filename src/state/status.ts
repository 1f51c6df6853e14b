// The small files `status` and `backups verify` keep between runs: the last
// restore drill of an environment, and what the last status run saw (restart
// counts per container). Each is written whole: a temporary file renamed
// into place, so a reader never sees half of one.
import { readFileSync } from 'node:fs';
import { replacePrivate } from '../util/private-files.js';
import { drillFile, statusMemoryFile } from './paths.js';

export interface DrillRecord {
  /** when the drill finished */
  time: string;
  ok: boolean;
  backup?: string;
  /** when the drilled backup was taken */
  backup_time?: string;
  duration_ms: number;
  /** first line of the error when it failed (already redacted by the caller) */
  error?: string;
  run_id?: string;
}

export interface StatusMemory {
  time: string;
  /** container id -> Docker's restart count */
  restarts: Record<string, number>;
  /** the project the run looked at, and the in-container probes it ran: the next run starts them while it loads the stack */
  project?: string;
  execs?: { id: string; cmd: string[] }[];
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function writeWhole(file: string, value: unknown): void {
  replacePrivate(file, JSON.stringify(value, null, 2) + '\n');
}

export const readDrill = (stateDir: string, env: string): DrillRecord | undefined => readJson<DrillRecord>(drillFile(stateDir, env));
export const recordDrill = (stateDir: string, env: string, rec: DrillRecord): void => writeWhole(drillFile(stateDir, env), rec);

export const readStatusMemory = (stateDir: string, env: string): StatusMemory | undefined => readJson<StatusMemory>(statusMemoryFile(stateDir, env));
export const writeStatusMemory = (stateDir: string, env: string, m: StatusMemory): void => writeWhole(statusMemoryFile(stateDir, env), m);
