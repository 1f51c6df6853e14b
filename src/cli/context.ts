// What every command handler gets: the injected I/O, the global options, and
// helpers to load the stack, start a run (the flows' context), ask the
// operator and print. Humans read stderr; programs read stdout (--json).
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline/promises';
import { UsageError, OperationError } from '../errors.js';
import { z } from 'zod';
import { loadStack } from '../config/load.js';
import type { Stack } from '../config/schema.js';
import type { Redactor } from '../util/redact.js';
import { Run, redactorFor, type IO } from '../flows/context.js';
import { parseWait } from '../util/units.js';
import { stateParseCache } from '../state/stack-cache.js';
import { stateIdentity } from '../state/engine-lock.js';
import { commandOf, refuseOnRemote, remoteEffects, RemoteTarget } from '../flows/remote-target.js';
import { placeOf, refuseSwarmOnHost, targetFor, type Outcome, type Target } from '../target/index.js';
import chalk from 'chalk';

/**
 * The lifeops build, for what a cache keeps of its work: this bundle file's
 * name, size and time (scripts/build.mjs rewrites them all). Running from the
 * sources (tsx) there is none, and nothing is cached.
 */
function buildId(): string | undefined {
  try {
    const here = fileURLToPath(import.meta.url);
    if (!here.endsWith('.mjs')) return undefined;
    const st = statSync(here);
    return `${path.basename(here)}:${st.size}:${st.mtimeMs}`;
  } catch {
    return undefined;
  }
}

export interface GlobalOptions {
  file?: string;
  stateDir?: string;
  verbose?: boolean;
}

export class Cli {
  /** the secrets of the last stack loaded (env_file values included), for the final error line */
  stackRedactor?: Redactor;
  /** an environment with `host:`: the server, one SSH connection for the whole command (main.ts closes it) */
  remote?: RemoteTarget;

  constructor(
    readonly io: IO,
    readonly argv: string[],
    readonly globals: GlobalOptions,
  ) {}

  get commandLine(): string {
    return ['lifeops', ...this.argv].join(' ');
  }

  stackFile(): string {
    if (this.globals.file) return this.globals.file;
    if (existsSync('lifeops.yaml')) return 'lifeops.yaml';
    if (this.io.env.LIFEOPS_STACK) return this.io.env.LIFEOPS_STACK;
    throw new UsageError('no stack file: ./lifeops.yaml does not exist and LIFEOPS_STACK is not set', 'pass -f STACK (e.g. lifeops -f stacks/demo.yaml status)');
  }

  stateDir(): string {
    if (this.globals.stateDir) return path.resolve(this.globals.stateDir);
    if (this.io.env.LIFEOPS_STATE_DIR) return path.resolve(this.io.env.LIFEOPS_STATE_DIR);
    return path.join(path.dirname(path.resolve(this.stackFile())), '.lifeops');
  }

  /** `parseCache`: keep the parse of an unchanged stack file in the state folder (status, run every minute). */
  load(env: string | undefined, opts: { allowMissing?: boolean; overrides?: Record<string, string>; parseCache?: boolean } = {}): Stack {
    // one parse per process: zod's compiled fast path costs more than it saves
    // (measured: 77 vs 113 ms of CPU for the demo's first load; matters for cron's status every minute)
    z.config({ jitless: true });
    const build = opts.parseCache ? buildId() : undefined;
    const parseCache = build ? stateParseCache(this.stateDir(), build) : undefined;
    const stack = loadStack({ file: this.stackFile(), env, processEnv: this.io.env, overrides: opts.overrides, allowMissing: opts.allowMissing, parseCache });
    // the containers it renders carry this state dir's identity (plan/ownership.ts)
    stack.owner = stateIdentity(this.stateDir());
    this.stackRedactor = redactorFor(stack);
    if (stack.host) this.connectRemote(stack);
    return stack;
  }

  /** Refuse what the server cannot do (exit 2), else connect once; `render`, `validate` and `hosts` need no connection. */
  private connectRemote(stack: Stack): void {
    const cmd = commandOf(this.argv);
    if (['hosts', 'render', 'validate'].includes(cmd) || this.remote) return;
    refuseSwarmOnHost(stack);
    refuseOnRemote(stack, this.argv);
    this.remote = RemoteTarget.open(stack, this.io.env);
  }

  newRun(stack: Stack): Run {
    const run = new Run(this.io, this.stateDir(), redactorFor(stack), this.commandLine);
    run.place = placeOf(stack);
    if (this.remote) run.effects = remoteEffects(run.effects, this.remote);
    return run;
  }

  /** The stack's target (compose, swarm), chosen here once for the command. */
  target(stack: Stack): Promise<Target> {
    return targetFor(stack, { io: this.io, stateDir: this.stateDir(), commandLine: this.commandLine, newRun: () => this.newRun(stack) });
  }

  /** A verb's outcome: its data on stdout with --json, else its notes on stderr. */
  show(outcome: Outcome, json: boolean | undefined, redactor?: Redactor): void {
    if (json) this.json(outcome.data, redactor);
    else for (const n of outcome.notes) this.err(n.tone === 'ok' ? chalk.green(n.text) : chalk.yellow(n.text));
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }

  err(text: string): void {
    this.io.stderr.write(text.endsWith('\n') ? text : text + '\n');
  }

  json(value: unknown, redactor?: Redactor): void {
    this.out(JSON.stringify(redactor ? redactor.value(value) : value, null, 2));
  }

  /** --wait DURATION (30s, 5m, or seconds) in milliseconds; a malformed one is a usage error. */
  waitMs(text: string | undefined): number | undefined {
    try {
      return parseWait(text);
    } catch {
      throw new UsageError(`--wait must be a duration like 30s or 5m, got "${text}"`);
    }
  }

  /** Ask the operator on the terminal; `--yes` answers for them. Without a terminal it refuses rather than guess. */
  async confirm(question: string, yes: boolean | undefined): Promise<void> {
    if (yes) return;
    const stdin = this.io.stdin;
    if (!stdin?.isTTY) throw new UsageError(`${question} needs confirmation and there is no terminal to ask`, 'add --yes to confirm');
    const rl = createInterface({ input: stdin, output: this.io.stderr });
    const answer = await rl.question(`${question} [y/N] `);
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) throw new OperationError('cancelled');
  }
}
