// The thin CLI layer: parse arguments, load the stack, call a flow, print.
// Humans read stderr; programs read stdout (--json). Typed errors are caught
// here once and turned into an exit code; only bin/ calls process.exit.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import chalk from 'chalk';
import { LifeopsError, UsageError, ConfigError } from '../errors.js';
import { loadStack } from '../config/load.js';
import { jsonSchema, type Stack } from '../config/schema.js';
import { Redactor, isSecretName } from '../util/redact.js';
import { Run, redactorFor, type IO } from '../flows/context.js';
import { registerCommands } from './commands.js';

export const VERSION = '0.1.0';

export interface GlobalOptions {
  file?: string;
  stateDir?: string;
  verbose?: boolean;
}

/** Everything a command handler needs, resolved lazily from the global options. */
export class Cli {
  constructor(
    readonly io: IO,
    readonly argv: string[],
    private readonly program: Command,
  ) {}

  get globals(): GlobalOptions {
    return this.program.opts<GlobalOptions>();
  }

  stackFile(): string {
    const g = this.globals;
    if (g.file) return g.file;
    if (existsSync('lifeops.yaml')) return 'lifeops.yaml';
    if (this.io.env.LIFEOPS_STACK) return this.io.env.LIFEOPS_STACK;
    throw new UsageError('no stack file: ./lifeops.yaml does not exist and LIFEOPS_STACK is not set', 'pass -f STACK (e.g. lifeops -f stacks/demo.yaml status)');
  }

  stateDir(): string {
    const g = this.globals;
    if (g.stateDir) return path.resolve(g.stateDir);
    if (this.io.env.LIFEOPS_STATE_DIR) return path.resolve(this.io.env.LIFEOPS_STATE_DIR);
    return path.join(path.dirname(path.resolve(this.stackFile())), '.lifeops');
  }

  /** the secrets of the last stack loaded (env_file values included), for the final error line */
  stackRedactor?: Redactor;

  load(env: string | undefined, opts: { allowMissing?: boolean; overrides?: Record<string, string> } = {}): Stack {
    const stack = loadStack({ file: this.stackFile(), env, processEnv: this.io.env, overrides: opts.overrides, allowMissing: opts.allowMissing });
    this.stackRedactor = redactorFor(stack);
    return stack;
  }

  newRun(stack: Stack): Run {
    return new Run(this.io, this.stateDir(), redactorFor(stack), ['lifeops', ...this.argv].join(' '));
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

  printSchema(): void {
    this.json(jsonSchema());
  }
}

function envRedactor(env: Record<string, string | undefined>): Redactor {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v && isSecretName(k)) vars[k] = v;
  return Redactor.forVars(vars, Object.keys(vars));
}

export async function main(argv: string[], io: IO): Promise<number> {
  const program = new Command('lifeops');
  program
    .description('Render, deploy, back up and watch a compose stack described by one typed stack file')
    .version(VERSION, '-V, --version', 'print the lifeops version')
    .enablePositionalOptions()
    .addOption(new Option('-f, --file <stack>', 'stack file (default ./lifeops.yaml, else $LIFEOPS_STACK)'))
    .addOption(new Option('--state-dir <dir>', 'state folder (default $LIFEOPS_STATE_DIR, else .lifeops/ beside the stack file)'))
    .option('--verbose', 'show stack traces and command output', false)
    .showHelpAfterError('(run `lifeops --help` for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
  const cli = new Cli(io, argv, program);
  registerCommands(program, cli);
  // Global options go before the command (so `deploy --version V` is deploy's);
  // --verbose is accepted anywhere.
  const addVerbose = (cmd: Command) => {
    for (const sub of cmd.commands) {
      if (!sub.options.some((o) => o.long === '--verbose')) sub.option('--verbose', 'show stack traces');
      addVerbose(sub);
    }
  };
  addVerbose(program);
  let exitCode = 0;
  try {
    await program.parseAsync(argv, { from: 'user' });
    exitCode = (program as unknown as { lifeopsExit?: number }).lifeopsExit ?? 0;
  } catch (e) {
    exitCode = reportError(e, io, program.opts<GlobalOptions>().verbose ?? argv.includes('--verbose'), cli.stackRedactor);
  }
  return exitCode;
}

export function reportError(e: unknown, io: IO, verbose: boolean, stackRedactor?: Redactor): number {
  const fromEnv = envRedactor(io.env);
  // the process environment's secrets, and the stack's (its env_file and defaults too)
  const redact = { text: (t: string) => fromEnv.text(stackRedactor ? stackRedactor.text(t) : t) };
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    return 2; // commander already printed the message
  }
  if (e instanceof LifeopsError) {
    const label = e instanceof ConfigError ? 'stack file error' : e.exitCode === 2 ? 'usage error' : 'error';
    io.stderr.write(`${chalk.red(`lifeops: ${label}:`)} ${redact.text(e.message)}\n`);
    if (e.hint) io.stderr.write(`  ${chalk.dim('fix:')} ${redact.text(e.hint)}\n`);
    if (verbose && e.stack) io.stderr.write(redact.text(e.stack) + '\n');
    return e.exitCode;
  }
  const err = e as Error;
  io.stderr.write(`${chalk.red('lifeops: unexpected error:')} ${redact.text(err?.message ?? String(e))}\n`);
  if (verbose && err?.stack) io.stderr.write(redact.text(err.stack) + '\n');
  else io.stderr.write('  (run again with --verbose for the stack trace)\n');
  return 1;
}
