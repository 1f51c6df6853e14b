// The state folder itself, 0700 (the private-file primitives are in util/private-files.ts).
import { chmodSync, statSync } from 'node:fs';
import path from 'node:path';
import { STATE_ENTRIES } from './paths.js';
import { PRIVATE_DIR, mkdirPrivate, tightenTree } from '../util/private-files.js';

/** render/<env>/ and acme/<env>/: what they hold is mounted into containers and keeps its own modes (flows/render.ts, state/certs.ts set them). */
const containerReadable = (rel: string) => /^(render|acme)\/[^/]+$/.test(rel);

/**
 * The state folder, 0700. One found looser was made by an older version (or
 * by hand): everything lifeops keeps in it is tightened first (what
 * render/<env>/ holds left as it is), then the folder itself, last, so a run
 * killed half-way through is finished by the next.
 */
export function privateStateDir(stateDir: string): void {
  let mode: number | undefined;
  try {
    mode = statSync(stateDir).mode & 0o777;
  } catch {
    return mkdirPrivate(stateDir); // a new one
  }
  if (mode === PRIVATE_DIR) return;
  // only what lifeops writes there: a state folder given by hand may hold other files (`--state-dir .`)
  for (const name of STATE_ENTRIES) tightenTree(path.join(stateDir, name), (rel) => containerReadable(rel ? `${name}/${rel}` : name));
  chmodSync(stateDir, PRIVATE_DIR);
}

