// `status --textfile DIR` on every target: the Prometheus text written where
// node_exporter's textfile collector reads it (DIR/*.prom).
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The textfile collector reads DIR/*.prom: write a hidden temporary name, then rename it into place. */
export function textfileName(project: string): string {
  return `lifeops-${project}.prom`;
}

export function writeTextfile(dir: string, project: string, text: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, textfileName(project));
  const tmp = path.join(dir, `.${textfileName(project)}.tmp-${process.pid}`);
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return file;
}
