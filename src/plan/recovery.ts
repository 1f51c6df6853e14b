// Pure: what a dead run left behind, and what the next mutating run does
// about it before its own work. The flow (src/flows/recover.ts) gathers the
// facts with the lock held, so no live run of this environment is changing
// anything meanwhile, and runs each action as a logged step.
//
// What is left over, and what is done:
//   - a one-off container of this project (compose `run`: migrations; the
//     restore client beside the database): it finishes, or is stopped, then
//     removed (a migration file runs in its own transaction, a restore in one
//     transaction: stopping either leaves the database as it was before it);
//   - `.tmp-*.<project>` backup folders: never a backup (no manifest): removed;
//   - a rolling (web) service with more containers than replicas (a rollout
//     killed between scale-up and scale-back): the serving ones are kept,
//     oldest first (the release in force; the dead run's are newer), the
//     rest removed, newest first;
//   - the render folder differs from the last successful release's files (a
//     deploy killed after writing them): the release's files are put back and
//     the front reloaded when its files were among those changed;
//   - a data-folder copy a dead `rollback --to` set aside: put back, or
//     removed, as its log says (plan/recovery-pitr.ts);
//   - services the dead run stopped (the app services before a rollback's,
//     or a failed deploy's, safety backup; Redis while its files are
//     replaced) and nothing started again: started.
import type { Service, Stack } from '../config/schema.js';
import { frontFiles, strategyOf } from './rollout.js';
import { planPitrUndo, type PitrUndoAction, type PitrUndoVolume } from './recovery-pitr.js';

export interface RecoveryContainer {
  id: string;
  name: string;
  service: string;
  state: string;
  health: string;
  /** creation time (ISO), to tell the dead run's containers (newer) from the release's */
  created?: string;
  number?: number;
}

export interface OneOffContainer {
  id: string;
  name: string;
  state: string;
  /** compose `run` (migrations), or the restore client lifeops starts beside the database */
  kind: 'compose-run' | 'restore';
  service?: string;
}

export interface FileLike {
  path: string;
  content: string;
}

export interface DeadRun {
  run?: string;
  lock: string;
  command: string;
  reason: string;
  /** app services its log says it stopped (the safety backup before a restore) */
  stoppedApps: string[];
  lastStep?: string;
}

export interface RecoveryFacts {
  project: string;
  stack: Pick<Stack, 'services' | 'front'>;
  containers: RecoveryContainer[];
  oneOffs: OneOffContainer[];
  /** `.tmp-*` folders of this project in the backup folder */
  tmpFolders: string[];
  deadRun?: DeadRun;
  /** the render folder now (secret files left out) */
  rendered: FileLike[];
  /** the last successful release of this environment, with its kept files */
  release?: { run_id: string; version: string; files: FileLike[] };
  /** undo volumes of dead `rollback --to` runs, and the database service they belong to */
  pitrUndo?: { volumes: PitrUndoVolume[]; dbService: string };
}

export type RecoveryAction =
  | { kind: 'mark-crashed'; title: string; run: string }
  | { kind: 'remove-oneoff'; title: string; container: OneOffContainer }
  | { kind: 'remove-tmp'; title: string; folders: string[] }
  | { kind: 'remove-surplus'; title: string; service: string; remove: RecoveryContainer[]; keep: RecoveryContainer[] }
  | { kind: 'restore-render'; title: string; release: string; files: FileLike[]; stray: string[]; reloadFront: boolean }
  | { kind: 'start-apps'; title: string; services: string[] }
  | PitrUndoAction;

/** Files a killed writeRendered leaves (`<file>.tmp-<pid>`): never part of a release. */
export const STRAY_RENDER = /\.tmp-\d+$/;

const serving = (svc: Service, c: RecoveryContainer) => c.state === 'running' && (c.health === 'healthy' || (c.health === 'none' && !svc.healthcheck));
const age = (c: RecoveryContainer) => `${c.created ?? ''}\0${String(c.number ?? 0).padStart(6, '0')}`;
const byAge = (a: RecoveryContainer, b: RecoveryContainer) => age(a).localeCompare(age(b));

const sameFiles = (a: FileLike[], b: FileLike[]) => {
  const key = (fs: FileLike[]) => JSON.stringify([...fs].sort((x, y) => x.path.localeCompare(y.path)).map((f) => [f.path, f.content]));
  return key(a) === key(b);
};

/** Which of a rolling service's containers stay (replicas of them) and which go. */
export function surplus(svc: Service, all: RecoveryContainer[]): { keep: RecoveryContainer[]; remove: RecoveryContainer[] } | undefined {
  const want = Math.max(1, svc.replicas);
  if (all.length <= want) return undefined;
  const rank = (c: RecoveryContainer) => (serving(svc, c) ? 0 : c.state === 'running' ? 1 : 2);
  const ordered = [...all].sort((a, b) => rank(a) - rank(b) || byAge(a, b));
  return { keep: ordered.slice(0, want), remove: ordered.slice(want).sort((a, b) => byAge(b, a)) };
}

export function planRecovery(f: RecoveryFacts): RecoveryAction[] {
  const actions: RecoveryAction[] = [];
  const dead = f.deadRun;
  if (dead) {
    const who = dead.run ? `run ${dead.run}` : `the run of lock ${dead.lock}`;
    actions.push({ kind: 'mark-crashed', title: `recovery: mark ${who} crashed in the ledger (${dead.reason})`, run: dead.run ?? `lock-${dead.lock}` });
  }
  // first what may still be writing: migrations and restores
  for (const c of f.oneOffs) {
    const what = c.kind === 'restore' ? 'restore client' : `one-off ${c.service ?? ''} container (compose run)`.replace('  ', ' ');
    actions.push({ kind: 'remove-oneoff', title: `recovery: ${c.state === 'running' ? 'let it finish or stop, then remove' : 'remove'} the ${what} ${c.name} left by a dead run`, container: c });
  }
  if (f.tmpFolders.length) {
    actions.push({ kind: 'remove-tmp', title: `recovery: remove ${f.tmpFolders.length} incomplete backup folder${f.tmpFolders.length > 1 ? 's' : ''} (${f.tmpFolders.join(', ')})`, folders: [...f.tmpFolders] });
  }
  for (const [name, svc] of Object.entries(f.stack.services)) {
    if (strategyOf(svc) !== 'rolling') continue;
    const s = surplus(
      svc,
      f.containers.filter((c) => c.service === name),
    );
    if (!s) continue;
    actions.push({
      kind: 'remove-surplus',
      title: `recovery: ${name} has ${s.keep.length + s.remove.length} containers for ${Math.max(1, svc.replicas)} wanted: keep ${s.keep.map((c) => c.name).join(', ')}, remove ${s.remove.map((c) => `${c.name} (${c.state}${c.health !== 'none' ? `, ${c.health}` : ''})`).join(', ')}`,
      service: name,
      keep: s.keep,
      remove: s.remove,
    });
  }
  // the data folder before the services: a database whose folder is put back is started by that step
  if (f.pitrUndo) actions.push(...planPitrUndo(f.pitrUndo.volumes, f.pitrUndo.dbService));
  const stray = f.rendered.filter((x) => STRAY_RENDER.test(x.path)).map((x) => x.path);
  const inForce = f.rendered.filter((x) => !STRAY_RENDER.test(x.path));
  if (f.release && (stray.length || !sameFiles(inForce, f.release.files))) {
    const front = f.stack.front;
    const frontRunning = Boolean(front && f.containers.some((c) => c.service === front.service && c.state === 'running'));
    const reloadFront = frontRunning && frontFiles(f.stack, inForce) !== frontFiles(f.stack, f.release.files);
    actions.push({
      kind: 'restore-render',
      title: `recovery: the rendered files differ from release ${f.release.run_id} (version ${f.release.version}) and no run is deploying them: put the release's files back${reloadFront ? ' and reload the front' : ''}`,
      release: f.release.run_id,
      files: f.release.files,
      stray,
      reloadFront,
    });
  }
  if (dead?.stoppedApps.length) {
    const stopped = dead.stoppedApps.filter((n) => f.stack.services[n] && !f.containers.some((c) => c.service === n && c.state === 'running') && f.containers.some((c) => c.service === n));
    if (stopped.length) actions.push({ kind: 'start-apps', title: `recovery: start ${stopped.join(', ')} (stopped by the dead run and never started again)`, services: stopped });
  }
  return actions;
}

/** The app services a run's step log says it stopped (info events of step `apps`: `{ stopping: [...] }`, `{ started: [...] }`). */
export function stoppedAppsFromLog(events: { step?: string; event: string; detail?: unknown }[]): string[] {
  let stopped: string[] = [];
  for (const e of events) {
    if (e.event !== 'info' || e.step !== 'apps') continue;
    const d = e.detail as { stopping?: string[]; started?: string[] } | undefined;
    if (d?.stopping) stopped = [...new Set([...stopped, ...d.stopping])];
    if (d?.started) stopped = stopped.filter((s) => !d.started!.includes(s));
  }
  return stopped;
}
