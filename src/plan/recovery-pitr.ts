// Pure: what a dead `rollback --to` left, and what the next run does about it.
// Before touching the data folder that rollback copies it aside into a volume
// of its own (the undo, labelled lifeops.oneoff=pitr-undo and with its run).
// Such a volume outliving its run means the run died; its step log says how far
// it got:
//   - the base backup's unpacking never started: the data folder is as it was,
//     the copy is only a leftover: removed;
//   - unpacking started and the server never reported its promotion (or an
//     undo had begun putting the copy back): the data folder may be anything
//     between the two states: the copy is put back (the database as before the
//     rollback, never a mix), the server started again, the copy removed;
//   - the server had promoted at the target: the rollback's work is done; the
//     recovery settings are reset (they may still be in postgresql.auto.conf)
//     and the copy removed.
// A volume whose run left no log is kept: nothing proves the data folder whole.

/** An undo volume of this project, with what its run's step log says. */
export interface PitrUndoVolume {
  volume: string;
  run: string;
  /** the run's step log was found */
  logged: boolean;
  /** the unpacking of a base backup into the data volume started */
  dataTouched: boolean;
  /** the server had replayed to the target and promoted */
  promoted: boolean;
  /** an undo had started putting the copy back */
  puttingBack: boolean;
}

export interface PitrUndoAction {
  kind: 'pitr-undo';
  title: string;
  volume: string;
  /** stop the database, copy the volume back into its data volume, start it */
  putBack: boolean;
  /** ALTER SYSTEM RESET of the recovery settings on the running database */
  resetRecovery: boolean;
}

/** These follow the step titles of flows/pitr-rollback.ts. */
const UNPACK = /^unpack base backup /;
const PROMOTED = /^wait for .* to finish the recovery and promote$/;
const PUT_BACK = /^undo: stop .*, put the data folder back from /;

/** What a rollback --to run's step log says about its data folder. */
export function pitrProgressFromLog(events: { step?: string; event: string; outcome?: string }[]): Pick<PitrUndoVolume, 'logged' | 'dataTouched' | 'promoted' | 'puttingBack'> {
  const started = (re: RegExp) => events.some((e) => e.event === 'start' && re.test(e.step ?? ''));
  return {
    logged: events.length > 0,
    dataTouched: started(UNPACK),
    promoted: events.some((e) => e.event === 'end' && e.outcome === 'ok' && PROMOTED.test(e.step ?? '')),
    puttingBack: started(PUT_BACK),
  };
}

export function planPitrUndo(volumes: PitrUndoVolume[], dbService: string): PitrUndoAction[] {
  return volumes.flatMap((v): PitrUndoAction[] => {
    if (!v.logged) return [];
    const putBack = v.dataTouched && (!v.promoted || v.puttingBack);
    const resetRecovery = v.dataTouched && !putBack;
    const title = putBack
      ? `recovery: run ${v.run} died replacing the data folder of ${dbService} (rollback --to): put it back from ${v.volume}, start ${dbService}, remove the copy`
      : resetRecovery
        ? `recovery: run ${v.run} had rolled ${dbService} back and promoted it (rollback --to): reset the recovery settings, remove the copy ${v.volume}`
        : `recovery: run ${v.run} died before touching the data folder of ${dbService} (rollback --to): remove its copy ${v.volume}`;
    return [{ kind: 'pitr-undo', title, volume: v.volume, putBack, resetRecovery }];
  });
}
