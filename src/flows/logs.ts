// `lifeops logs [service]` on compose: the stack is rendered into its render
// folder (the files compose needs to know the project), then `compose logs`
// streams, every line masked with the stack's secrets on its way out.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { detectCompose, runStreaming } from '../clients/runner.js';
import { composeLogs } from '../commands/compose.js';
import { renderDir } from '../state/paths.js';
import { renderStack, composePaths, writeRendered } from './render.js';
import { redactorFor } from './context.js';

export interface LogsOptions {
  service?: string;
  follow?: boolean;
  tail?: number;
}

/** Streams the services' logs to `out` / `err`; returns compose's exit code. */
export async function streamComposeLogs(stack: Stack, stateDir: string, o: LogsOptions, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const compose = await detectCompose();
  let dir = renderDir(stateDir, stack.env);
  let files = renderStack(stack, dir);
  // a state dir that never deployed (another checkout's) has no rendered files: compose reads a copy rendered for this call
  const scratch = existsSync(composePaths(files, dir)[0]) ? undefined : mkdtempSync(path.join(os.tmpdir(), 'lifeops-logs-'));
  if (scratch) {
    files = renderStack(stack, scratch);
    writeRendered(files, scratch);
    dir = scratch;
  }
  try {
    const argv = composeLogs(compose, { project: stack.project, files: composePaths(files, dir) }, { service: o.service, follow: o.follow, tail: o.tail ?? (o.follow ? 50 : 200) });
    const redactor = redactorFor(stack);
    return await runStreaming(
      argv,
      (s) => out(redactor.text(s)),
      (s) => err(redactor.text(s)),
      { env: stack.vars },
    );
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}
