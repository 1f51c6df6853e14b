// The plan of a swarm deploy, as data: each step with the exact commands that
// change the swarm. `deploy <swarm env> --dry-run` prints it; the executor
// (flows/swarm.ts) runs it; test/unit/swarm-execute.test.ts holds the two to
// each other through the recording port.
import type { Stack } from '../config/schema.js';
import { execIn, jobCreate, serviceRm, stackDeploy } from '../commands/swarm.js';

/** The one-off Swarm job that runs the migrations next to the database (commands/swarm.ts jobCreate). */
export type MigrationJob = Parameters<typeof jobCreate>[1];

export interface SwarmDeployFacts {
  stack: Stack;
  version: string;
  manager: string;
  /** the stack file this run deploys, in its release folder */
  stackFile: string;
  /** the database service has a running task: the deploy backs it up and migrates before the stack changes */
  dbRunning: boolean;
  skipBackup?: boolean;
  /** new migration files (0 when unknown or none) */
  freshMigrations: number;
  /** the Redis task the backup saves in (its node's engine, its container), when Redis runs */
  cacheTask?: { engine: string; container: string };
  /** the migration job, when the stack has migrations */
  job?: MigrationJob;
  /** a job of the same name that a crashed run left: removed before the new one starts */
  leftoverJob?: boolean;
  convergeTimeout: string;
}

export type SwarmDeployStepKind = 'backup' | 'migrate' | 'stack-deploy' | 'converge' | 'smoke' | 'record';

export interface SwarmDeployStep {
  kind: SwarmDeployStepKind;
  title: string;
  /** every command of the step that changes the swarm, in order (a backup's dumps only read) */
  commands: string[][];
  /** migrate: the database exists only after the stack deploy (first deploy) */
  first?: boolean;
}

function migrateStep(f: SwarmDeployFacts, first: boolean): SwarmDeployStep {
  const job = f.job!;
  return {
    kind: 'migrate',
    first,
    title: first
      ? 'migrations: a one-off Swarm job next to the database (first deploy)'
      : `migrations (${f.freshMigrations} new files): a one-off Swarm job next to the database, between two schema fingerprints (if they differ and the deploy then fails, the undo restores the database from the pre-deploy backup)`,
    commands: [...(f.leftoverJob ? [serviceRm(f.manager, job.name)] : []), jobCreate(f.manager, job), serviceRm(f.manager, job.name)],
  };
}

export function planSwarmDeploy(f: SwarmDeployFacts): SwarmDeployStep[] {
  const steps: SwarmDeployStep[] = [];
  if (f.dbRunning && !f.skipBackup) {
    steps.push({ kind: 'backup', title: 'pre-deploy backup of Postgres and Redis in their tasks', commands: f.cacheTask ? [execIn(f.cacheTask.engine, f.cacheTask.container, ['redis-cli', 'SAVE'])] : [] });
  }
  if (f.job && f.dbRunning) steps.push(migrateStep(f, false));
  steps.push({ kind: 'stack-deploy', title: `docker stack deploy ${f.stack.project} (version ${f.version})`, commands: [stackDeploy(f.manager, f.stackFile, f.stack.project)] });
  steps.push({ kind: 'converge', title: `wait until every service converged on the new spec (deadline ${f.convergeTimeout})`, commands: [] });
  if (f.job && !f.dbRunning) steps.push(migrateStep(f, true));
  steps.push({ kind: 'smoke', title: 'smoke test through the front', commands: [] });
  steps.push({ kind: 'record', title: 'record the release', commands: [] });
  return steps;
}
