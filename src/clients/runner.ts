// The one place external commands run. Every argv comes from a pure builder
// in src/commands; output is captured for the step log (redacted there).
import { execa } from 'execa';
import { OperationError } from '../errors.js';
import type { ComposeCli } from '../commands/compose.js';
import { shellQuote } from '../commands/compose.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export async function run(argv: string[], opts: { env?: Record<string, string>; timeoutMs?: number; input?: string; cwd?: string } = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  const r = await execa(file, args, {
    reject: false,
    env: opts.env,
    extendEnv: true,
    timeout: opts.timeoutMs,
    input: opts.input,
    cwd: opts.cwd,
    stripFinalNewline: true,
  });
  if (r.failed && r.exitCode === undefined) {
    throw new OperationError(`could not run ${shellQuote(argv.slice(0, 3))}: ${r.shortMessage ?? 'failed to start'}`);
  }
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 1 };
}

export async function runChecked(argv: string[], opts: Parameters<typeof run>[1] = {}): Promise<RunResult> {
  const r = await run(argv, opts);
  if (r.exitCode !== 0) {
    const tail = (r.stderr || r.stdout).split('\n').slice(-15).join('\n');
    throw new OperationError(`command failed (exit ${r.exitCode}): ${shellQuote(argv)}\n${tail}`);
  }
  return r;
}

let detected: Promise<ComposeCli> | undefined;

/** compose v2 (`docker compose`) if the plugin is there, else v1 (`docker-compose`). */
export function detectCompose(): Promise<ComposeCli> {
  detected ??= (async () => {
    const forced = process.env.LIFEOPS_COMPOSE;
    if (forced !== 'v1') {
      const v2 = await execa('docker', ['compose', 'version', '--short'], { reject: false });
      if (v2.exitCode === 0) return { kind: 'v2' as const, argv: ['docker', 'compose'], version: String(v2.stdout).trim() };
    }
    const v1 = await execa('docker-compose', ['version', '--short'], { reject: false });
    if (v1.exitCode === 0) return { kind: 'v1' as const, argv: ['docker-compose'], version: String(v1.stdout).trim() };
    throw new OperationError('neither `docker compose` (v2) nor `docker-compose` (v1) was found', 'install the compose plugin or docker-compose (apt-get install docker-compose)');
  })();
  return detected;
}
