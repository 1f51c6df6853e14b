// Shared by the crash tests (crash-sweep.test.ts, crash-rollback.test.ts):
// the day the sample rotates by, the kill points of a sample or a full sweep,
// seeded kill times, reading a run's step log, and the processes a killed run
// had started.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const FULL = process.env.LIFEOPS_SWEEP === 'full';

/** The day of the year the sample rotates by; LIFEOPS_SWEEP_DAY=N replays day N's sample (a CI failure's). */
export const DAY = process.env.LIFEOPS_SWEEP_DAY
  ? Number(process.env.LIFEOPS_SWEEP_DAY)
  : (() => {
      const now = new Date();
      return Math.floor((now.getTime() - Date.UTC(now.getUTCFullYear(), 0, 0)) / 86_400_000);
    })();

/** Kill points 1..total: all of them in a full sweep, else `sample` of them rotating with the day (salt: per command). */
export function killPoints(total: number, salt: number, sample: number): number[] {
  if (FULL) return Array.from({ length: total }, (_, i) => i + 1);
  const out = new Set<number>();
  for (let i = 0; out.size < Math.min(sample, total); i++) out.add(((DAY + salt + i * 7) % total) + 1);
  return [...out].sort((a, b) => a - b);
}

/** A small seeded generator (mulberry32): the same seed, the same kill times. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Ev = { step: string; event: string; outcome?: string; detail?: Record<string, unknown> };

/** The step logs of a state folder: their names (oldest first), events, and the steps each started. */
export function runLogs(logsDir: string) {
  const names = () => (existsSync(logsDir) ? readdirSync(logsDir).sort() : []);
  const events = (name: string): Ev[] =>
    readFileSync(path.join(logsDir, name), 'utf8')
      .split('\n')
      .flatMap((l) => {
        try {
          return l ? [JSON.parse(l) as Ev] : [];
        } catch {
          return []; // a line a killed run left half-written
        }
      });
  const startedSteps = (name: string) => events(name).filter((e) => e.event === 'start').map((e) => e.step);
  /** the run held the environment lock (a recovering run must then take it over and mark it crashed) */
  const heldLock = (name: string) => events(name).some((e) => e.event === 'end' && /take the (deploy )?lock/.test(e.step) && e.outcome === 'ok');
  return { names, events, startedSteps, heldLock };
}

/** Live processes whose environment names run `run` (the docker and compose clients a killed lifeops had started). */
export function clientsOf(run: string): number[] {
  const needle = Buffer.from(`LIFEOPS_RUN_ID=${run}\0`);
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        if (/\) [ZX] /.test(readFileSync(`/proc/${n}/stat`, 'utf8'))) return false;
        return readFileSync(`/proc/${n}/environ`).includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}
