// lifeops history, lock status, lock release
import type { Cli } from '../context.js';
import { readReleases } from '../../state/ledger.js';
import { listLocks, releaseLock, describeLock } from '../../state/lock.js';
import { formatDuration } from '../../util/units.js';

export function historyCommand(cli: Cli, o: { env?: string; json?: boolean }): number {
  const records = readReleases(cli.stateDir(), o.env);
  if (o.json) cli.json(records);
  else if (!records.length) cli.err('no deploys recorded yet');
  else for (const r of records) cli.out(`${r.time}  ${r.kind.padEnd(8)} ${r.env.padEnd(11)} ${r.version.padEnd(10)} ${r.outcome.padEnd(11)} ${formatDuration(r.duration_ms).padStart(7)}  ${r.user}  ${r.run_id}`);
  return 0;
}

export function lockStatusCommand(cli: Cli, o: { json?: boolean }): number {
  const locks = listLocks(cli.stateDir());
  if (o.json) cli.json(locks);
  else if (!locks.length) cli.err('no locks held');
  else for (const l of locks) cli.out(`${l.env}: ${describeLock(l)}${l.stale ? ` — STALE (process gone): lifeops lock release ${l.id}` : ''}`);
  return 0;
}

export function lockReleaseCommand(cli: Cli, id: string, o: { force?: boolean }): number {
  const l = releaseLock(cli.stateDir(), id, Boolean(o.force));
  cli.err(`released lock ${l.id} (${l.env}, ${describeLock(l)})`);
  return 0;
}
