// The layer rules dependency-cruiser cannot see, checked by reading the
// sources of a src/ folder (the real one, or a copy with planted violations):
// who may print, exit, read the environment, fetch or signal another process;
// re-exports that would hand a layer another layer's code; render importing
// anything but read functions from node:fs; files over 400 lines.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export const MAX_LINES = 400;

/**
 * Files another helper is splitting (issue 21); every other file keeps to
 * MAX_LINES. Exactly these paths, never a folder or a pattern.
 */
export const LONG_FILE_EXEMPT = new Set<string>();

/** What a renderer may take from node:fs (render/templates.ts reads template files): reads only. */
const FS_READS = new Set(['readFileSync', 'existsSync', 'statSync', 'readdirSync', 'realpathSync', 'accessSync', 'constants']);

export function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** `src/<layer>/...` -> layer; a module directly under src/ is its own layer (its file name). */
function layerOf(rel: string): string {
  const parts = rel.split('/');
  return parts.length > 2 ? parts[1] : rel;
}

/** Names in `{ a, b as c, type D }`: [imported or local name, name as bound/exported]. */
function names(list: string): [string, string][] {
  return list
    .split(',')
    .map((s) => s.trim().replace(/^type\s+/, ''))
    .filter(Boolean)
    .map((s) => {
      const m = /^(\S+)\s+as\s+(\S+)$/.exec(s);
      return m ? [m[1], m[2]] : [s, s];
    });
}

/**
 * Problems as `src/file.ts:line: what`, for every .ts file under `root`/src.
 * `root` is the checkout (or a copy of its src/ under another folder).
 */
export function sourceProblems(root: string): string[] {
  const bad: string[] = [];
  for (const file of sources(path.join(root, 'src'))) {
    const rel = path.relative(root, file).split(path.sep).join('/');
    const text = readFileSync(file, 'utf8');
    const lineCount = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
    if (lineCount > MAX_LINES && !LONG_FILE_EXEMPT.has(rel)) bad.push(`${rel}: ${lineCount} lines (at most ${MAX_LINES}: split it by meaning)`);

    const inCli = rel.startsWith('src/cli/');
    const inClients = rel.startsWith('src/clients/');
    const asksNoKind = /^src\/(cli|flows|backup|state|render)\//.test(rel);
    const lines = text.split('\n');
    lines.forEach((l, i) => {
      if (/^\s*(\/\/|\*|\/\*)/.test(l)) return; // comments may name them
      const at = `${rel}:${i + 1}`;
      if (!inCli && /process\.(stdin|stdout|stderr|exit|exitCode)\b|console\./.test(l)) bad.push(`${at}: prints or exits outside src/cli: ${l.trim()}`);
      if (!inCli && !inClients && /process\.env\b/.test(l)) bad.push(`${at}: reads process.env outside src/cli and src/clients: ${l.trim()}`);
      // which target a stack runs on is asked in src/target only: the CLI calls the Target's verbs, flows what the target put on the run (Run.place)
      if (asksNoKind && /\bisSwarm\b|\.target\s*[!=]==|[!=]==\s*['"](swarm|compose)['"]|['"](swarm|compose)['"]\s*[!=]==/.test(l)) bad.push(`${at}: tests the target kind in ${rel.split('/').slice(0, 2).join('/')} (ask the Target from src/target instead): ${l.trim()}`);
      if (!inClients && /\bfetch\(/.test(l)) bad.push(`${at}: fetch outside src/clients: ${l.trim()}`);
      // outside clients a process may re-raise a signal at itself (after letting go of its lock) or probe with signal 0, nothing else
      for (const m of l.matchAll(/process\.kill\(([^,)]+)(?:,\s*([^)]+))?\)/g)) {
        const self = m[1].trim() === 'process.pid';
        const probe = m[2]?.trim() === '0';
        if (!inClients && !self && !probe) bad.push(`${at}: signals another process outside src/clients: ${l.trim()}`);
      }
    });

    // imports: local name -> the module's path under root (relative imports only)
    const imported = new Map<string, string>();
    const resolve = (spec: string) => path.relative(root, path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'))).split(path.sep).join('/');
    for (const m of text.matchAll(/^import\s+(?:type\s+)?(?:(\w+)\s*,?\s*)?(?:\{([^}]*)\})?\s*from\s+'(\.[^']+)'/gm)) {
      const target = resolve(m[3]);
      if (m[1]) imported.set(m[1], target);
      for (const [, local] of names(m[2] ?? '')) imported.set(local, target);
    }
    const mine = layerOf(rel);
    // export ... from '<another layer>'
    for (const m of text.matchAll(/^export\s+(?:type\s+)?(?:\*(?:\s+as\s+\w+)?|\{[^}]*\})\s*from\s+'(\.[^']+)'/gm)) {
      const target = resolve(m[1]);
      if (layerOf(target) !== mine) bad.push(`${rel}: re-exports ${target}, another layer's module (import it where it is needed)`);
    }
    // import { x } from '<another layer>'; export { x }
    for (const m of text.matchAll(/^export\s+(?:type\s+)?\{([^}]*)\}\s*;/gm)) {
      for (const [local] of names(m[1])) {
        const target = imported.get(local);
        if (target && layerOf(target) !== mine) bad.push(`${rel}: re-exports ${local} of ${target}, another layer's module (import it where it is needed)`);
      }
    }
    // render returns text: from node:fs it takes read functions only
    if (rel.startsWith('src/render/')) {
      for (const m of text.matchAll(/^import\s+(?:(\w+|\*\s+as\s+\w+)\s*,?\s*)?(?:\{([^}]*)\})?\s*from\s+'(?:node:)?fs(?:\/promises)?'/gm)) {
        const taken = [...(m[1] ? [m[1]] : []), ...names(m[2] ?? '').map(([n]) => n)];
        const writes = taken.filter((n) => !FS_READS.has(n));
        if (writes.length) bad.push(`${rel}: render takes ${writes.join(', ')} from node:fs (renderers write nothing: flows/render.ts writes)`);
      }
    }
  }
  return bad;
}
