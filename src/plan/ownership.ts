// Who is in charge of a compose project: the state dir whose identity its
// containers carry. Two checkouts of one stack on one host have two state
// dirs (two ledgers, two backup catalogs); only one of them may change the
// project, and status from the other must not judge the containers against
// its own ledger. Pure: the labels are observed elsewhere (flows/ownership.ts).

/** A state dir as the containers it manages name it. */
export interface StateRef {
  /** a stable id of the state dir: its real path and the machine, hashed */
  id: string;
  /** its real path, for people */
  dir: string;
  /** the host it is on (a state dir path means nothing on another host) */
  host?: string;
}

/** The labels rendered on every container lifeops manages (render/compose.ts). */
export const STATE_LABEL = 'lifeops.state';
export const STATE_DIR_LABEL = 'lifeops.state_dir';
export const STATE_HOST_LABEL = 'lifeops.state_host';

/** Set to the id of the state dir in charge, a run from this one takes the project over (a deploy relabels its containers). */
export const TAKE_OVER_ENV = 'LIFEOPS_TAKE_OVER';

/** Whether `takeOver` (the value of LIFEOPS_TAKE_OVER) names every other state dir seen: only then may this run go on. */
export function takesOver(o: Ownership, takeOver: string | undefined): boolean {
  if (o.kind !== 'other' || !takeOver) return false;
  const named = takeOver.split(',').map((s) => s.trim());
  return [o.owner, ...o.also].every((r) => named.includes(r.id));
}

export interface LabeledContainer {
  name: string;
  labels: Record<string, string>;
}

export type Ownership =
  /** no container carries a state label (none yet, or made before lifeops labelled them): this state may claim it */
  | { kind: 'unclaimed'; containers: number }
  | { kind: 'ours'; containers: number }
  /** another state is in charge: `owner` holds the most containers; `also` are any further states seen */
  | { kind: 'other'; owner: StateRef; containers: string[]; also: StateRef[] };

/** The state a container names, if it names one. */
export function stateOf(labels: Record<string, string>): StateRef | undefined {
  const id = labels[STATE_LABEL];
  if (!id) return undefined;
  return { id, dir: labels[STATE_DIR_LABEL] ?? '?', ...(labels[STATE_HOST_LABEL] ? { host: labels[STATE_HOST_LABEL] } : {}) };
}

/**
 * Who is in charge, from the containers' labels and this state's identity.
 * One container of another state is enough to make it not ours: a project
 * is never half taken over silently.
 */
export function whoIsInCharge(self: Pick<StateRef, 'id'>, containers: LabeledContainer[]): Ownership {
  const others = new Map<string, { ref: StateRef; names: string[] }>();
  let ours = 0;
  for (const c of containers) {
    const ref = stateOf(c.labels);
    if (!ref) continue;
    if (ref.id === self.id) {
      ours++;
      continue;
    }
    const seen = others.get(ref.id) ?? { ref, names: [] };
    seen.names.push(c.name);
    others.set(ref.id, seen);
  }
  if (!others.size) return ours ? { kind: 'ours', containers: ours } : { kind: 'unclaimed', containers: containers.length };
  const ranked = [...others.values()].sort((a, b) => b.names.length - a.names.length || a.ref.id.localeCompare(b.ref.id));
  return { kind: 'other', owner: ranked[0].ref, containers: ranked[0].names.sort(), also: ranked.slice(1).map((r) => r.ref) };
}

const where = (r: StateRef, selfHost?: string) => (r.host && r.host !== selfHost ? `${r.dir} on host ${r.host}` : r.dir);

/** The refusal of a mutating run from a state dir that is not in charge: message and hint. */
export function refusal(project: string, self: StateRef, o: Extract<Ownership, { kind: 'other' }>, ownerDirExists: boolean): { message: string; hint: string } {
  const n = o.containers.length;
  const more = o.also.length ? `; containers of ${o.also.map((r) => where(r, self.host)).join(', ')} are there too` : '';
  const message =
    `project "${project}" is managed by the state dir ${where(o.owner, self.host)} (its ${n} container${n === 1 ? '' : 's'} ${o.containers.slice(0, 3).join(', ')}${n > 3 ? ', ...' : ''} carr${n === 1 ? 'ies' : 'y'} ${STATE_LABEL}=${o.owner.id}), ` +
    `not by this one (${self.dir}): its releases, its backups and its lock are there, not here${more}`;
  const local = !o.owner.host || o.owner.host === self.host;
  const use =
    local && ownerDirExists
      ? `run it with that state dir: lifeops --state-dir ${o.owner.dir} ...`
      : local
        ? `that state dir no longer exists here; if it moved, run it with --state-dir and its new path`
        : `run it on ${o.owner.host} with --state-dir ${o.owner.dir}`;
  const takeOver = `to move the project to this state dir instead (its past releases and backups stay where they are): ${TAKE_OVER_ENV}=${o.owner.id} lifeops deploy ...`;
  return { message, hint: `${use}; ${takeOver}` };
}

/** For status run from a state dir that is not in charge: the one line that says who is. */
export function inChargeMessage(self: StateRef, owner: StateRef): string {
  return `managed by the state dir ${where(owner, self.host)}, not this one (${self.dir}): backups, drills, releases and the lock are judged there (lifeops --state-dir ${owner.dir} status)`;
}
