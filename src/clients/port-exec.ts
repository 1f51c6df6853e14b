// `docker exec` through the run's port (clients/port.ts): a read (redis-cli
// INFO, a psql query) or a change (BGSAVE), judged as a direct run would
// be: stdout, or an error with the output's tail.
import { OperationError } from '../errors.js';
import { dockerExecWith } from '../commands/compose.js';
import type { CommandPort } from './port.js';

export interface ExecOptions {
  input?: string;
  /** variables passed through by name (`-e NAME`), their values in `env`: never on argv */
  envNames?: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** `cmd` in container `id`, as a read or a change; its stdout, or an error naming the command. */
export async function portExec(port: CommandPort, kind: 'read' | 'change', id: string, cmd: string[], opts: ExecOptions = {}): Promise<string> {
  const argv = dockerExecWith(id, cmd, { stdin: opts.input !== undefined, envNames: opts.envNames });
  const o = { input: opts.input, env: opts.env, timeoutMs: opts.timeoutMs ?? 120_000 };
  const r = kind === 'read' ? await port.read(argv, o) : await port.change(argv, { ...o, allowFailure: true });
  if (r.exitCode !== 0) {
    const tail = String(r.stderr || r.stdout).split('\n').slice(-5).join('\n');
    throw new OperationError(`docker exec ${cmd.slice(0, 3).join(' ')} … failed (exit ${r.exitCode}): ${tail}`);
  }
  return r.stdout;
}
