// `lifeops logs [service]` on compose: the stack is rendered into its render
// folder (the files compose needs to know the project), then `compose logs`
// streams, every line masked with the stack's secrets on its way out.
import type { Stack } from '../config/schema.js';
import { detectCompose, runStreaming } from '../clients/runner.js';
import { composeLogs } from '../commands/compose.js';
import { renderDir } from '../state/paths.js';
import { renderStack, composePaths } from './render.js';
import { redactorFor } from './context.js';

export interface LogsOptions {
  service?: string;
  follow?: boolean;
  tail?: number;
}

/** Streams the services' logs to `out` / `err`; returns compose's exit code. */
export async function streamComposeLogs(stack: Stack, stateDir: string, o: LogsOptions, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const compose = await detectCompose();
  const dir = renderDir(stateDir, stack.env);
  const files = renderStack(stack, dir);
  const argv = composeLogs(compose, { project: stack.project, files: composePaths(files, dir) }, { service: o.service, follow: o.follow, tail: o.tail ?? (o.follow ? 50 : 200) });
  const redactor = redactorFor(stack);
  return runStreaming(
    argv,
    (s) => out(redactor.text(s)),
    (s) => err(redactor.text(s)),
    { env: stack.vars },
  );
}
