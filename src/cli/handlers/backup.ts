// lifeops backup, backups list|show|verify, rollback, cron
import chalk from 'chalk';
import type { Cli } from '../context.js';
import { UsageError } from '../../errors.js';
import { verifyBackup } from '../../flows/verify.js';
import { rollbackToTime } from '../../flows/pitr-rollback.js';
import type { Stack } from '../../config/schema.js';
import { verifyLatest } from '../../flows/drill.js';
import { refuseUnsupported } from '../../flows/maintenance.js';
import { verifyOffsite } from '../../flows/offsite.js';
import { refuseUnhonoured } from '../../target/index.js';

export async function backupCommand(cli: Cli, o: { env?: string; tag?: string; json?: boolean; wait?: string }): Promise<number> {
  const stack = cli.load(o.env);
  refuseUnhonoured(stack, 'backup', o);
  const target = await cli.target(stack);
  const waitMs = cli.waitMs(o.wait);
  const run = cli.newRun(stack);
  // a remote environment: the server's lock, shared with deploys from any operator
  const releaseServerLock = await cli.remote?.lock('backup', (l) => cli.err(l));
  try {
    cli.show(await target.backup(run, { tag: o.tag, waitMs }), o.json, run.redactor);
  } finally {
    releaseServerLock?.();
  }
  return 0;
}

export async function backupsListCommand(cli: Cli, o: { env?: string; json?: boolean }): Promise<number> {
  const stack = cli.load(o.env, { allowMissing: true });
  const list = (await cli.target(stack)).backupsList();
  if (o.json) cli.json(list.data);
  else if (!list.lines.length) cli.err(list.empty);
  else for (const line of list.lines) cli.out(line);
  return 0;
}

export async function backupsShowCommand(cli: Cli, id: string, o: { env?: string }): Promise<number> {
  const stack = cli.load(o.env, { allowMissing: true });
  cli.json((await cli.target(stack)).backupShow(id));
  return 0;
}

export async function backupsVerifyCommand(cli: Cli, given: string | undefined, o: { env?: string; json?: boolean; latest?: boolean; offsite?: boolean }): Promise<number> {
  if (o.offsite) return offsiteVerifyCommand(cli, given, o);
  if (!given === !o.latest) throw new UsageError('give a backup id or --latest (not both)', 'see `lifeops backups list`');
  const stack = cli.load(o.env);
  refuseUnhonoured(stack, 'backups verify', o);
  const run = cli.newRun(stack);
  // --latest (for cron) records the result as the restore drill `status` watches
  const r = o.latest ? await verifyLatest(stack, run, { stateDir: cli.stateDir() }) : await verifyBackup(stack, run, { stateDir: cli.stateDir(), id: given! });
  const id = r.id;
  if (o.json) cli.json({ ok: true, ...r });
  else cli.err(chalk.green(`backup ${id}: ${r.files} files match their checksums; ${r.databases.map((d) => `${d.name} restored with ${d.rows} rows in ${d.tables} tables`).join('; ') || 'no database'}`));
  return 0;
}

export async function rollbackCommand(cli: Cli, id: string | undefined, o: { release?: string; to?: string; env?: string; yes?: boolean; json?: boolean; wait?: string; maintenance?: boolean }): Promise<number> {
  const stack = cli.load(o.env);
  refuseUnhonoured(stack, 'rollback', { ...o, id });
  if (o.maintenance) refuseUnsupported(stack);
  if (o.to !== undefined) return rollbackToCommand(cli, stack, id, o);
  const target = await cli.target(stack);
  const waitMs = cli.waitMs(o.wait);
  const run = cli.newRun(stack);
  // a remote environment: the server's lock, shared with deploys and backups from any operator
  const releaseServerLock = await cli.remote?.lock('rollback', (l) => cli.err(l));
  try {
    cli.show(await target.rollback(run, { id, release: o.release, waitMs, maintenance: o.maintenance, confirm: (q) => cli.confirm(q, o.yes) }), o.json, run.redactor);
  } finally {
    releaseServerLock?.();
  }
  return 0;
}

async function offsiteVerifyCommand(cli: Cli, given: string | undefined, o: { env?: string; json?: boolean; latest?: boolean }): Promise<number> {
  if (given || o.latest) throw new UsageError('--offsite checks whole repositories: give no backup id and no --latest', 'lifeops backups verify --offsite');
  const stack = cli.load(o.env);
  const checks = await verifyOffsite(stack, cli.newRun(stack), cli.stateDir());
  if (o.json) cli.json({ ok: true, offsite: checks });
  else for (const c of checks) cli.err(chalk.green(`off-site ${c.repo}: restic check read data subset ${c.subset} back: no errors`));
  return 0;
}

/** `rollback --to TIME`: point-in-time recovery of the database (flows/pitr-rollback.ts). */
async function rollbackToCommand(cli: Cli, stack: Stack, id: string | undefined, o: { release?: string; to?: string; yes?: boolean; json?: boolean; wait?: string; maintenance?: boolean }): Promise<number> {
  if (id || o.release || o.maintenance) throw new UsageError(`--to picks its own base backup and leaves the release as it is: give it without ${id ? `a backup id (${id})` : o.release ? '--release' : '--maintenance'}`, 'lifeops rollback --to "2026-12-07 10:31:05"');
  const r = await rollbackToTime(stack, cli.newRun(stack), { stateDir: cli.stateDir(), to: o.to!, commandLine: cli.commandLine, waitMs: cli.waitMs(o.wait), confirm: (q) => cli.confirm(q, o.yes) });
  if (o.json) cli.json(r);
  else cli.err(chalk.green(`rolled the database of ${stack.project} back to ${r.target} (base backup ${r.base_backup} and the WAL archive); the state before is in backup ${r.safety_backup}`));
  return 0;
}
