// Files that must be whole on disk before anything refers to them (a lock, a
// backup's manifest): written, fsynced, closed.
import { openSync, writeSync, fsyncSync, closeSync, fchmodSync } from 'node:fs';

/** Write `text` to `file` and fsync it; the file gets exactly `mode` (open's mode alone is masked by the umask). `flag` 'wx' refuses an existing file. */
export function writeFileSynced(file: string, text: string, flag: 'w' | 'wx', mode: number): void {
  const fd = openSync(file, flag, mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
