// Facts about this machine's file systems that status needs: free space
// where a path lives (its nearest existing folder, so a backup folder not
// created yet still has an answer).
import { statfs } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';

export interface DiskSpace {
  path: string;
  /** the folder actually measured (the nearest existing one) */
  measured: string;
  free_bytes: number;
  size_bytes: number;
}

export async function diskSpace(p: string): Promise<DiskSpace> {
  let dir = path.resolve(p);
  while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const s = await statfs(dir);
  return { path: p, measured: dir, free_bytes: Number(s.bavail) * Number(s.bsize), size_bytes: Number(s.blocks) * Number(s.bsize) };
}
