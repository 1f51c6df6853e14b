// Files that must be whole on disk before anything refers to them (a lock, a
// backup's manifest): written, fsynced, closed.
import { openSync, writeSync, fsyncSync, closeSync } from 'node:fs';

/** Write `text` to `file` and fsync it. `flag` 'wx' refuses an existing file. */
export function writeFileSynced(file: string, text: string, flag: 'w' | 'wx', mode: number): void {
  const fd = openSync(file, flag, mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
