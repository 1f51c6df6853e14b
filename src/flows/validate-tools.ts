// How `lifeops validate` runs its validators: through the effects port, the
// validators and engine questions as reads, the throwaway containers it
// starts (--network none) and removes as changes. One per validation: the
// engine's availability is asked once.
import type { Effects } from './effects.js';

export interface ToolResult {
  exitCode: number;
  /** stdout, then stderr: what the validator said */
  out: string;
  stdout: string;
  /** the program is not installed */
  notFound: boolean;
}

interface ToolOptions {
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  ignoreStdout?: boolean;
}

/** The last `n` non-empty lines of a validator's output, on one line. */
export const lastLines = (s: string, n = 6) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-n)
    .join(' | ')
    .slice(0, 600);

export class ValidatorTools {
  private dockerUp?: Promise<boolean>;

  constructor(readonly effects: Effects) {}

  /** A validator or a question to the engine (a read). */
  exec(file: string, args: string[], opts: ToolOptions = {}): Promise<ToolResult> {
    return this.call('read', file, args, opts);
  }

  /** A throwaway container started or removed (a change). */
  execChange(file: string, args: string[], opts: ToolOptions = {}): Promise<ToolResult> {
    return this.call('change', file, args, opts);
  }

  private async call(kind: 'read' | 'change', file: string, args: string[], opts: ToolOptions): Promise<ToolResult> {
    // stdin empty and closed: no validator waits for input
    const o = { ...opts, input: '', timeoutMs: opts.timeoutMs ?? 120_000 };
    try {
      const r = kind === 'read' ? await this.effects.read([file, ...args], o) : await this.effects.change([file, ...args], { ...o, allowFailure: true });
      return { exitCode: r.exitCode, out: [r.stdout, r.stderr].filter(Boolean).join('\n'), stdout: r.stdout, notFound: false };
    } catch (e) {
      // the runner's "could not run" (no such program, or a timeout)
      const message = (e as Error).message;
      const notFound = /ENOENT/.test(message);
      return { exitCode: notFound ? 127 : 1, out: message, stdout: '', notFound };
    }
  }

  async which(bin: string): Promise<boolean> {
    return (await this.exec('sh', ['-c', `command -v ${bin}`])).exitCode === 0;
  }

  dockerAvailable(): Promise<boolean> {
    this.dockerUp ??= this.exec('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 15_000 }).then((r) => r.exitCode === 0);
    return this.dockerUp;
  }

  async imagePresent(image: string): Promise<boolean> {
    if (!(await this.dockerAvailable())) return false;
    return (await this.exec('docker', ['image', 'inspect', '--format', '{{.Id}}', image])).exitCode === 0;
  }

  /** Start a container with --network none, run `ready` until true or timeout, always remove it. */
  async withContainer(args: string[], timeoutMs: number, ready: (id: string) => Promise<boolean>): Promise<{ ok: boolean; logs: string }> {
    const r = await this.execChange('docker', ['run', '-d', '--network', 'none', '--label', 'lifeops.validate=1', ...args]);
    if (r.exitCode !== 0) return { ok: false, logs: r.out };
    const id = r.stdout.trim().split('\n').pop()!;
    try {
      const end = Date.now() + timeoutMs;
      let waited = 0;
      while (Date.now() < end && waited < timeoutMs) {
        if (await ready(id)) return { ok: true, logs: (await this.exec('docker', ['logs', id])).out };
        const st = await this.exec('docker', ['inspect', '-f', '{{.State.Running}}', id]);
        if (st.stdout.trim() === 'false') break;
        await this.effects.sleep(400);
        waited += 400;
      }
      return { ok: false, logs: (await this.exec('docker', ['logs', id])).out };
    } finally {
      await this.execChange('docker', ['rm', '-f', '-v', id]);
    }
  }
}
