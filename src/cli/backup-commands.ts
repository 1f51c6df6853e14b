// backup, backups list|show|verify, rollback, cron.
import path from 'node:path';
import { Command, Option } from 'commander';
import chalk from 'chalk';
import type { Cli } from './main.js';
import { confirm, setExit } from './commands.js';
import { cronCommand, type CronOptions } from './cron-command.js';
import { UsageError } from '../errors.js';
import { Lock } from '../state/lock.js';
import { takeBackup } from '../flows/backup.js';
import { backupDir, listBackups, loadBackup } from '../backup/catalog.js';
import { applyRetention } from '../flows/retention.js';
import { verifyBackup } from '../flows/verify.js';
import { verifyLatest } from '../flows/drill.js';
import { rollback } from '../flows/rollback.js';
import { formatMiB } from '../util/units.js';
import type { Stack } from '../config/schema.js';

const human = (n: number) => (n < 1024 * 1024 ? `${n} B` : formatMiB(n));

/** The crontab block for a stack: the backup schedule and a status check every minute. */
export function cronLines(stack: Stack, o: { node: string; bin: string; stateDir: string; env: string }): string[] {
  const q = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const base = `${q(o.node)} ${q(o.bin)} -f ${q(stack.file)} --state-dir ${q(o.stateDir)}`;
  const log = q(path.join(o.stateDir, 'logs', 'cron.log'));
  return [
    `# >>> lifeops ${stack.project} >>>`,
    `${stack.backup.schedule} ${base} backup --env ${o.env} >> ${log} 2>&1`,
    `* * * * * ${base} status --quiet --env ${o.env} >> ${log} 2>&1`,
    `# <<< lifeops ${stack.project} <<<`,
  ];
}

/** Replace (or append) the marked block in a crontab text. */
export function mergeCrontab(current: string, block: string[]): string {
  const start = block[0];
  const end = block[block.length - 1];
  const lines = current.split('\n').filter((l, i, a) => !(i === a.length - 1 && l === ''));
  const out: string[] = [];
  let skipping = false;
  for (const l of lines) {
    if (l === start) skipping = true;
    if (!skipping) out.push(l);
    if (l === end) skipping = false;
  }
  return [...out, ...block].join('\n') + '\n';
}

export function registerBackupCommands(program: Command, cli: Cli): void {
  const envOption = () => new Option('--env <env>', 'environment (default: the stack\'s default_environment, else $LIFEOPS_ENV)');
  const commandLine = () => ['lifeops', ...cli.argv].join(' ');

  program
    .command('backup')
    .description('back up Postgres, Redis, marked volumes and the release in force; then apply retention')
    .addOption(envOption())
    .option('--tag <text>', 'a label stored in the manifest')
    .option('--json', 'print the manifest summary as JSON')
    .action(async (o: { env?: string; tag?: string; json?: boolean }) => {
      const stack = cli.load(o.env);
      const run = cli.newRun(stack);
      const stateDir = cli.stateDir();
      const lock = await run.step('take the lock', async () => Lock.acquire(stateDir, stack.env, commandLine(), cli.io.now()));
      try {
        const m = await takeBackup(stack, run, { stateDir, tag: o.tag });
        const deleted = await applyRetention(run, stack, stateDir);
        const dir = path.join(backupDir(stack, stateDir), m.id);
        if (o.json) cli.json({ id: m.id, env: m.env, time: m.time, tag: m.tag, size: m.size, dir, files: m.files.length, deleted });
        else cli.err(chalk.green(`backup ${m.id} written to ${dir} (${human(m.size)}, ${m.files.length} files)${deleted.length ? `; retention deleted ${deleted.join(', ')}` : ''}`));
      } finally {
        lock.release();
      }
    });

  const backups = program.command('backups').description('list, show and verify backups');
  backups
    .command('list')
    .addOption(envOption())
    .option('--json', 'print an array of {id, env, time, tag, size}')
    .action((o: { env?: string; json?: boolean }) => {
      const stack = cli.load(o.env, { allowMissing: true });
      const list = listBackups(backupDir(stack, cli.stateDir()), stack.project, stack.env);
      if (o.json) return cli.json(list);
      if (!list.length) return cli.err(`no backups for ${stack.env} in ${backupDir(stack, cli.stateDir())}`);
      for (const b of list) cli.out(`${b.id}  ${b.env.padEnd(11)} ${b.time}  ${human(b.size).padStart(9)}  ${b.verified ? 'verified' : '        '}  ${b.tag ?? ''}`);
    });
  backups
    .command('show')
    .argument('<id>')
    .addOption(envOption())
    .action((id: string, o: { env?: string }) => {
      const stack = cli.load(o.env, { allowMissing: true });
      cli.json(loadBackup(stack, cli.stateDir(), id).manifest);
    });
  backups
    .command('verify')
    .argument('[id]', 'backup id (or --latest)')
    .addOption(envOption())
    .option('--latest', 'verify the newest backup and record the restore drill for `status` (for cron)')
    .option('--json', 'print the result as JSON')
    .action(async (given: string | undefined, o: { env?: string; json?: boolean; latest?: boolean }) => {
      if (!given === !o.latest) throw new UsageError('give a backup id or --latest (not both)', 'see `lifeops backups list`');
      const stack = cli.load(o.env);
      const run = cli.newRun(stack);
      const r = o.latest ? await verifyLatest(stack, run, { stateDir: cli.stateDir() }) : await verifyBackup(stack, run, { stateDir: cli.stateDir(), id: given! });
      const id = r.id;
      if (o.json) cli.json({ ok: true, ...r });
      else cli.err(chalk.green(`backup ${id}: ${r.files} files match their checksums; ${r.databases.map((d) => `${d.name} restored with ${d.rows} rows in ${d.tables} tables`).join('; ') || 'no database'}`));
    });

  program
    .command('rollback')
    .description('restore a backup (data and release), or return to an earlier release (--release)')
    .argument('[backup]', 'backup id (data + release)')
    .option('--release <run-id>', 'return to this release\'s images and rendered files, data untouched')
    .addOption(envOption())
    .option('--yes', 'do not ask for confirmation (production)')
    .option('--json', 'print the result as JSON')
    .action(async (id: string | undefined, o: { release?: string; env?: string; yes?: boolean; json?: boolean }) => {
      const stack = cli.load(o.env);
      const run = cli.newRun(stack);
      const r = await rollback(stack, run, {
        stateDir: cli.stateDir(),
        id,
        release: id ? undefined : (o.release ?? 'previous'),
        commandLine: commandLine(),
        confirm: (q) => confirm(cli, q, o.yes),
      });
      if (o.json) cli.json(r);
      else cli.err(chalk.green(`rolled ${stack.project} back to backup ${r.backup}${r.data ? ' (data and release)' : ' (release only)'}${r.safety_backup ? `; the state before is in backup ${r.safety_backup}` : ''}`));
    });

  program
    .command('cron')
    .description('print, --install into /etc/cron.d or --uninstall the backup, restore drill and status jobs')
    .addOption(envOption())
    .option('--install', 'write /etc/cron.d/lifeops-<project> (idempotent)')
    .option('--uninstall', 'remove /etc/cron.d/lifeops-<project>')
    .option('--run <job>', "run one job (backup, verify, status) between its dead-man's-switch pings (what the installed lines call)")
    .addOption(new Option('--cron-dir <dir>', 'the cron.d folder').default('/etc/cron.d').hideHelp())
    .action(async (o: CronOptions) => setExit(program, await cronCommand(cli, o)));
}
