// lifeops backup, backups list|show|verify, rollback, cron
import path from 'node:path';
import chalk from 'chalk';
import type { Cli } from '../context.js';
import { UsageError } from '../../errors.js';
import { backupFlow } from '../../flows/backup.js';
import { backupDir, listBackups, loadBackup } from '../../backup/catalog.js';
import { verifyBackup } from '../../flows/verify.js';
import { rollback } from '../../flows/rollback.js';
import { rollbackToTime } from '../../flows/pitr-rollback.js';
import type { Stack } from '../../config/schema.js';
import { verifyLatest } from '../../flows/drill.js';
import { refuseUnsupported } from '../../flows/maintenance.js';
import { backupPlaces, verifyOffsite } from '../../flows/offsite.js';
import { formatMiB } from '../../util/units.js';
import { isSwarm, refuseUnhonoured, swarmBackupCommand, swarmBackupsList, swarmBackupShow, swarmRollbackCommand } from './swarm.js';

const human = (n: number) => (n < 1024 * 1024 ? `${n} B` : formatMiB(n));

export async function backupCommand(cli: Cli, o: { env?: string; tag?: string; json?: boolean; wait?: string }): Promise<number> {
  const stack = cli.load(o.env);
  refuseUnhonoured(stack, 'backup', o);
  if (isSwarm(stack)) return swarmBackupCommand(cli, stack, o);
  const stateDir = cli.stateDir();
  // a remote environment: the server's lock, shared with deploys from any operator
  const releaseServerLock = await cli.remote?.lock('backup', (l) => cli.err(l));
  const { manifest: m, deleted, offsite } = await backupFlow(stack, cli.newRun(stack), { stateDir, tag: o.tag, commandLine: cli.commandLine, waitMs: cli.waitMs(o.wait) }).finally(() => releaseServerLock?.());
  const dir = path.join(backupDir(stack, stateDir), m.id);
  if (o.json) cli.json({ id: m.id, env: m.env, time: m.time, tag: m.tag, size: m.size, dir, files: m.files.length, deleted, offsite });
  else {
    cli.err(chalk.green(`backup ${m.id} written to ${dir} (${human(m.size)}, ${m.files.length} files)${deleted.length ? `; retention deleted ${deleted.join(', ')}` : ''}`));
    for (const c of offsite) {
      if (c.failed) cli.err(chalk.yellow(`off-site ${c.repo}: NOT copied (${c.failed}); retried on the next backup`));
      else if (c.copied.length || c.adopted.length) cli.err(chalk.green(`off-site ${c.repo}: copied ${[...c.adopted, ...c.copied].join(', ')}${c.forgotten.length ? `; retention removed ${c.forgotten.join(', ')}` : ''}`));
    }
  }
  return 0;
}

export function backupsListCommand(cli: Cli, o: { env?: string; json?: boolean }): number {
  const stack = cli.load(o.env, { allowMissing: true });
  if (isSwarm(stack)) return swarmBackupsList(cli, stack, o);
  const list = listBackups(backupDir(stack, cli.stateDir()), stack.project, stack.env);
  // where each copy lives: this host's backup folder and the off-site repositories (a copy can outlive its local folder)
  const places = backupPlaces(stack, cli.stateDir(), list.map((b) => b.id));
  const rows = places.map((p) => ({ ...(list.find((b) => b.id === p.id) ?? { id: p.id, env: stack.env }), local: p.local, offsite: p.offsite }));
  if (o.json) cli.json(rows);
  else if (!rows.length) cli.err(`no backups for ${stack.env} in ${backupDir(stack, cli.stateDir())}`);
  else {
    for (const b of rows) {
      const where = [...(b.local ? ['local'] : []), ...b.offsite.map((c) => c.repo)].join(',');
      const s = 'size' in b ? b : undefined;
      cli.out(`${b.id}  ${b.env.padEnd(11)} ${s?.time ?? '(off-site only)'.padEnd(24)}  ${s ? human(s.size).padStart(9) : ''.padStart(9)}  ${s?.verified ? 'verified' : '        '}  ${where.padEnd(16)}  ${s?.tag ?? ''}`.trimEnd());
    }
  }
  return 0;
}

export function backupsShowCommand(cli: Cli, id: string, o: { env?: string }): number {
  const stack = cli.load(o.env, { allowMissing: true });
  if (isSwarm(stack)) return swarmBackupShow(cli, stack, id);
  cli.json(loadBackup(stack, cli.stateDir(), id).manifest);
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
  refuseUnhonoured(stack, 'rollback', o);
  if (o.maintenance) refuseUnsupported(stack);
  if (o.to !== undefined) return rollbackToCommand(cli, stack, id, o);
  if (isSwarm(stack)) return swarmRollbackCommand(cli, stack, id, o);
  const r = await rollback(stack, cli.newRun(stack), {
    stateDir: cli.stateDir(),
    id,
    release: id ? undefined : (o.release ?? 'previous'),
    commandLine: cli.commandLine,
    waitMs: cli.waitMs(o.wait),
    maintenance: o.maintenance,
    confirm: (q) => cli.confirm(q, o.yes),
  });
  if (o.json) cli.json(r);
  else cli.err(chalk.green(`rolled ${stack.project} back to backup ${r.backup}${r.data ? ' (data and release)' : ' (release only)'}${r.safety_backup ? `; the state before is in backup ${r.safety_backup}` : ''}`));
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
