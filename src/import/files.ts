// Which files `docker compose` reads in a folder when run there without -f:
// the first of compose.yaml, compose.yml, docker-compose.yaml,
// docker-compose.yml, and over it the first override file found (whatever the
// base file's name; checked against compose v2). Naming a file explicitly
// (`-f`) reads no override, so only a base file compose would pick by itself
// gets one. Pure: the caller says which files exist.
import path from 'node:path';

export const DEFAULT_COMPOSE_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];
export const DEFAULT_OVERRIDE_FILES = ['compose.override.yml', 'compose.override.yaml', 'docker-compose.override.yml', 'docker-compose.override.yaml'];

/** The compose file compose picks in a folder, or undefined. */
export function defaultComposeFile(dir: string, exists: (f: string) => boolean): string | undefined {
  return DEFAULT_COMPOSE_FILES.map((f) => path.join(dir, f)).find(exists);
}

/** The override compose reads over `composeFile` when run in its folder without -f, or undefined. */
export function overrideFileFor(composeFile: string, exists: (f: string) => boolean): string | undefined {
  const dir = path.dirname(composeFile);
  if (defaultComposeFile(dir, exists) !== path.join(dir, path.basename(composeFile))) return undefined;
  return DEFAULT_OVERRIDE_FILES.map((f) => path.join(dir, f)).find(exists);
}

/**
 * The files compose reads when run in `dir` without -f: COMPOSE_FILE (from the
 * environment, else the folder's .env) lists them, separated by
 * COMPOSE_PATH_SEPARATOR (":" by default), relative to the folder, and then no
 * override file is added; otherwise the default file and its override.
 */
export function composeFilesIn(dir: string, vars: Record<string, string | undefined>, exists: (f: string) => boolean): string[] {
  const list = vars.COMPOSE_FILE;
  if (list) return list.split(vars.COMPOSE_PATH_SEPARATOR || ':').filter(Boolean).map((f) => path.resolve(dir, f));
  const base = defaultComposeFile(dir, exists);
  if (!base) return [];
  const override = overrideFileFor(base, exists);
  return override ? [base, override] : [base];
}
