// lifeops backup, backups list|show|verify, rollback, cron
import chalk from 'chalk';
import type { Cli } from '../context.js';
import { UsageError } from '../../errors.js';
import { verifyBackup } from '../../flows/verify.js';
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
  cli.show(await target.backup(run, { tag: o.tag, waitMs }), o.json, run.redactor);
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

export async function rollbackCommand(cli: Cli, id: string | undefined, o: { release?: string; env?: string; yes?: boolean; json?: boolean; wait?: string; maintenance?: boolean }): Promise<number> {
  const stack = cli.load(o.env);
  refuseUnhonoured(stack, 'rollback', { ...o, id });
  if (o.maintenance) refuseUnsupported(stack);
  const target = await cli.target(stack);
  const waitMs = cli.waitMs(o.wait);
  const run = cli.newRun(stack);
  cli.show(await target.rollback(run, { id, release: o.release, waitMs, maintenance: o.maintenance, confirm: (q) => cli.confirm(q, o.yes) }), o.json, run.redactor);
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
