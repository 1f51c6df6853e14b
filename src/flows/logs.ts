// `lifeops logs [service]` on compose: the stack is rendered into its render
// folder (the files compose needs to know the project), then `compose logs`
// streams (a read through the effects port), every line masked with the
// stack's secrets on its way out.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import { composeLogs } from '../commands/compose.js';
import { renderDir } from '../state/paths.js';
import { renderStack, composePaths, writeRendered } from './render.js';
import { redactorFor, type Run } from './context.js';

export interface LogsOptions {
  service?: string;
  follow?: boolean;
  tail?: number;
}

/** Each chunk written, as text, to `to`. */
const writingTo = (to: (text: string) => void) =>
  new Writable({
    write(chunk: Buffer, _enc, done) {
      to(chunk.toString());
      done();
    },
  });

/** Streams the services' logs to `out` / `err`; returns compose's exit code. */
export async function streamComposeLogs(
  stack: Stack,
  run: Run,
  o: LogsOptions,
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<number> {
  const stateDir = run.stateDir;
  const compose = await run.compose();
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
    const r = await run.effects.readStream(argv, [writingTo((s) => out(redactor.text(s)))], { env: stack.vars, stderr: writingTo((s) => err(redactor.text(s))) });
    if (r.pipeErr) throw r.pipeErr;
    return r.exitCode ?? 1;
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}
