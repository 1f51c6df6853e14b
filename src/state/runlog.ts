// A run's step log: one JSON line per event in logs/<run>.jsonl, secrets
// masked before anything reaches the file.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Redactor } from '../util/redact.js';
import { logsDir, runLogFile } from './paths.js';
import { appendPrivate, mkdirPrivate } from '../util/private-files.js';
import { privateStateDir } from './private.js';

export interface StepEvent {
  run: string;
  step: string;
  event: 'start' | 'end' | 'info';
  outcome?: 'ok' | 'failed' | 'skipped' | 'undone';
  start?: string;
  end?: string;
  duration_ms?: number;
  error?: string;
  detail?: unknown;
}

export function newRunId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export class RunLog {
  readonly file: string;

  constructor(
    stateDir: string,
    readonly runId: string,
    private readonly redactor: Redactor,
  ) {
    // the first file a run writes: the state folder is made private here (and tightened, when an older version left it looser)
    privateStateDir(stateDir);
    mkdirPrivate(logsDir(stateDir));
    this.file = runLogFile(stateDir, runId);
  }

  write(e: StepEvent): void {
    appendPrivate(this.file, JSON.stringify(this.redactor.value(e)) + '\n');
  }
}

/** A run's events as written (a line cut short by a kill is skipped); [] when it has no log. */
export function readRunEvents(stateDir: string, runId: string): StepEvent[] {
  if (!/^[A-Za-z0-9_-]+$/.test(runId)) return [];
  let text = '';
  try {
    text = readFileSync(runLogFile(stateDir, runId), 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((l) => {
    try {
      return l ? [JSON.parse(l) as StepEvent] : [];
    } catch {
      return [];
    }
  });
}
