// What /proc says about a process: read-only, for telling whether the holder
// of a lock still runs (state/lock.ts) and which processes a dead run left
// behind (clients/processes.ts).
import { readFileSync } from 'node:fs';

export function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** State (field 3) and start time (field 22) of a process; undefined when /proc has no such pid. */
export function procStat(pid: number): { state: string; startTime: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // field 2 (comm) is in parentheses and may itself hold spaces and ')': split after the last one
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0], startTime: rest[19] };
}

/** Whether a process with this pid exists (signal 0 sends nothing; EPERM: it exists, another user's). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
