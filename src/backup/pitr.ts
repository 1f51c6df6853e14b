// Point-in-time recovery's part of the archive: the base backup a backup
// folder holds (pg_basebackup's tar, hashed and optionally encrypted like
// every other file), the list of base backups, and what the WAL archive in
// the database's container holds.
import type { Stack } from '../config/schema.js';
import type { CommandPort } from '../clients/port.js';
import { portExec } from '../clients/port-exec.js';
import { OperationError } from '../errors.js';
import { shellQuote } from '../commands/compose.js';
import { archiveListArgv, archiverQueryCmd, baseBackupArgv, currentWalCmd, parseArchiveListing, parseArchiver, type ArchivedFile, type ArchiverFact, type BaseRef } from '../commands/pitr.js';
import { backupDir, listBackups, readManifest } from './catalog.js';
import { streamCommandToFile, type Written } from './format.js';

/**
 * pg_basebackup of the running server into `file`. The segment in use before
 * it starts is at or before the backup's own start (its checkpoint comes
 * later), so replaying from it is safe and the archive is kept from there.
 */
export async function takeBaseBackup(port: CommandPort, containerId: string, user: string, database: string, file: string, passphrase: string | undefined, label: string, now: () => Date): Promise<{ written: Written; start_wal: string; start_time: string; end_time: string }> {
  const start_wal = (await portExec(port, 'read', containerId, currentWalCmd(user, database))).trim();
  const start_time = now().toISOString();
  const written = await streamCommandToFile(port, baseBackupArgv(containerId, user, label), file, { passphrase });
  // pg_basebackup returns once the backup's last segment is archived: recovery can stop from here on
  return { written, start_wal, start_time, end_time: now().toISOString() };
}

/** Every base backup of the environment, oldest first. */
export function baseBackups(stack: Stack, stateDir: string): BaseRef[] {
  const dir = backupDir(stack, stateDir);
  const out: BaseRef[] = [];
  for (const b of listBackups(dir, stack.project, stack.env)) {
    const bb = readManifest(dir, b.id)?.contents.postgres?.base_backup;
    if (bb) out.push({ id: b.id, start_wal: bb.start_wal, start_time: bb.start_time, end_time: bb.end_time });
  }
  return out;
}

/** The archive's files, read in the database container. */
export async function readArchive(port: CommandPort, containerId: string): Promise<ArchivedFile[]> {
  const argv = archiveListArgv(containerId);
  const r = await port.read(argv, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new OperationError(`command failed (exit ${r.exitCode}): ${shellQuote(argv)}\n${(r.stderr || r.stdout).split('\n').slice(-15).join('\n')}`);
  return parseArchiveListing(r.stdout);
}

/** pg_stat_archiver and the segments waiting to be archived. */
export async function readArchiver(port: CommandPort, containerId: string, user: string, database: string, timeoutMs = 30_000): Promise<ArchiverFact> {
  return parseArchiver(await portExec(port, 'read', containerId, archiverQueryCmd(user, database), { timeoutMs }));
}
