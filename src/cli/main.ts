// The thin CLI layer: parse arguments, run the command's handler, turn its
// result or its typed error into an exit code. Humans read stderr; programs
// read stdout (--json). Typed errors are caught here once; only bin/ exits.
import { Command, CommanderError, Option } from 'commander';
import chalk from 'chalk';
import { LifeopsError, ConfigError } from '../errors.js';
import { Redactor, isSecretName } from '../util/redact.js';
import type { IO } from '../flows/context.js';
import type { Cli, GlobalOptions } from './context.js';
import { declareCommands, type Act } from './declare.js';

export const VERSION = '0.1.0';

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
  let cli: Cli | undefined;
  let exitCode = 0;
  const act: Act = (load, call) => async (...args) => {
    const [m, { Cli }] = await Promise.all([load(), import('./context.js')]);
    cli = new Cli(io, argv, program.opts<GlobalOptions>());
    try {
      // commander passes the positional arguments, the options, then the command itself
      exitCode = await call(m, cli, ...args.slice(0, -1));
    } catch (e) {
      throw cli.remote?.explainLoss(e) ?? e;
    } finally {
      cli.remote?.close(); // a remote environment's SSH connection lasts one command
    }
  };
  declareCommands(program, act);
  // Global options go before the command (so `deploy --version V` is deploy's); --verbose is accepted anywhere.
  const addVerbose = (cmd: Command) => {
    for (const sub of cmd.commands) {
      if (!sub.options.some((o) => o.long === '--verbose')) sub.option('--verbose', 'show stack traces');
      addVerbose(sub);
    }
  };
  addVerbose(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    exitCode = reportError(e, io, program.opts<GlobalOptions>().verbose ?? argv.includes('--verbose'), cli?.stackRedactor);
  }
  return exitCode;
}

export function reportError(e: unknown, io: IO, verbose: boolean, stackRedactor?: Redactor): number {
  const fromEnv = envRedactor(io.env);
  // the process environment's secrets, and the stack's (its env_file and defaults too)
  const redact = (t: string) => fromEnv.text(stackRedactor ? stackRedactor.text(t) : t);
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    return 2; // commander already printed the message
  }
  if (e instanceof LifeopsError) {
    const label = e instanceof ConfigError ? 'stack file error' : e.exitCode === 2 ? 'usage error' : 'error';
    io.stderr.write(`${chalk.red(`lifeops: ${label}:`)} ${redact(e.message)}\n`);
    if (e.hint) io.stderr.write(`  ${chalk.dim('fix:')} ${redact(e.hint)}\n`);
    if (verbose && e.stack) io.stderr.write(redact(e.stack) + '\n');
    return e.exitCode;
  }
  const err = e as Error;
  io.stderr.write(`${chalk.red('lifeops: unexpected error:')} ${redact(err?.message ?? String(e))}\n`);
  if (verbose && err?.stack) io.stderr.write(redact(err.stack) + '\n');
  else io.stderr.write('  (run again with --verbose for the stack trace)\n');
  return 1;
}
