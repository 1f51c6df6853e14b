// What each target honours of each command's options. A flag a target cannot
// honour is refused before anything runs (exit 2), never dropped: a
// `--dry-run` that a target ignored would deploy for real.
export type TargetKind = 'compose' | 'swarm';

/** A refused option: how the operator wrote it, and why this target cannot do it. */
export interface Refusal {
  flag: string;
  why: string;
}

type Check = (value: unknown) => string | undefined;
const given: Check = (v) => (v === undefined || v === false ? undefined : 'given');

/** Maintenance mode is a flag file lifeops writes on this host into the folder the nginx front bind-mounts. */
const MAINTENANCE_WHY = "maintenance mode is a flag file in the nginx front's bind-mounted folder on this host; a swarm front runs on a node of its own, which the file would have to reach";

/**
 * Per command, the options the swarm target cannot honour (by commander's
 * attribute name), each with the reason. Whole commands the swarm target
 * cannot run are listed under `*`.
 */
const SWARM: Record<string, Record<string, { flag: string; check?: Check; why: string }>> = {
  deploy: {
    build: { flag: '--build', why: 'swarm nodes run images already loaded on them; build and load them first (docker build, docker save | docker -H NODE load)' },
    maintenance: { flag: '--maintenance', why: MAINTENANCE_WHY },
  },
  logs: {
    follow: { flag: '--follow', why: 'swarm logs are read once (docker service logs); follow them with docker service logs -f' },
  },
  rollback: {
    // the backup id is the positional argument (handlers pass it as `id`): on swarm it is never optional
    id: { flag: 'rollback without a backup id', check: (v) => (v === undefined ? 'rollback without a backup id' : undefined), why: 'on swarm a rollback always replaces the data with a backup\'s, so it is never the default: give the backup id (lifeops backups list)' },
    release: { flag: '--release', why: 'the swarm target returns to a backup (data and release) only: give a backup id' },
    to: { flag: '--to', why: 'point-in-time recovery archives WAL into a volume beside the database on this host: the compose target only' },
    maintenance: { flag: '--maintenance', why: MAINTENANCE_WHY },
  },
  'backups verify': {
    '*': { flag: 'backups verify', why: 'swarm backups have no restore drill yet' },
  },
  down: {
    '*': { flag: 'down', why: 'the swarm target has no down yet; `docker stack rm PROJECT` on a manager removes the services (volumes stay)' },
  },
  prune: {
    '*': { flag: 'prune', why: "swarm nodes each keep their own images; prune them on each node (docker image rm), lifeops prunes compose targets only" },
  },
  maintenance: {
    '*': { flag: 'maintenance', why: MAINTENANCE_WHY },
  },
  restore: {
    '*': { flag: 'restore --from-offsite', why: 'swarm backups have no off-site copies yet: a disaster recovery restores onto a compose target only' },
  },
  'offsite push': {
    '*': { flag: 'offsite push', why: 'swarm backups have no off-site copies yet, and the WAL archive is a volume beside the database on a compose host' },
  },
  cron: {
    install: { flag: '--install', why: "the installed jobs include the restore drill (backups verify), which the swarm target lacks" },
    run: { flag: '--run', why: "the cron jobs include the restore drill (backups verify), which the swarm target lacks" },
  },
};

/** The options of `command` that `target` cannot honour; empty when it can run it as asked. */
export function refusedOptions(target: TargetKind, command: string, options: Record<string, unknown>): Refusal[] {
  if (target === 'compose') return [];
  const table = SWARM[command] ?? {};
  const out: Refusal[] = [];
  if (table['*']) out.push({ flag: table['*'].flag, why: table['*'].why });
  for (const [key, rule] of Object.entries(table)) {
    if (key === '*') continue;
    const hit = (rule.check ?? given)(options[key]);
    if (hit) out.push({ flag: hit === 'given' ? rule.flag : hit, why: rule.why });
  }
  return out;
}
