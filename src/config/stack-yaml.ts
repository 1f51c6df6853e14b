// The stack file as a YAML document with source ranges: the checks that need
// no parsing (exists, a file, not too large), strict UTF-8, YAML errors and
// alias problems, each a ConfigError at file:line:column with its key path.
// loadStack (load.ts) takes it from here to the schema.
import { readFileSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument, isMap, isSeq, isScalar, isPair, isAlias, visit, LineCounter, type Alias, type Document, type Node } from 'yaml';
import { ConfigError } from '../errors.js';
import type { Source } from './source.js';

/** Offset of the first byte that is not part of a valid UTF-8 sequence (-1: none found by this scan). */
function firstBadUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}

/** Real stack files are a few KiB; the largest seed stack is under 20 KiB. */
export const MAX_STACK_FILE_BYTES = 1024 * 1024;

export function readStackSource(file: string, maxBytes = MAX_STACK_FILE_BYTES): Source {
  return parseStackSource(file, readStackBytes(file, maxBytes));
}

/** The stack file's bytes, after the checks that need no parsing (exists, not a folder, not too large). */
export function readStackBytes(file: string, maxBytes = MAX_STACK_FILE_BYTES): Buffer {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new ConfigError(`${file}: stack file not found`, 'pass -f FILE, or set LIFEOPS_STACK');
  const st = statSync(abs);
  if (st.isDirectory()) throw new ConfigError(`${file}: is a directory, not a stack file`);
  // the YAML parser's time grows faster than the file: refuse up front what no real stack needs
  if (st.size > maxBytes) {
    throw new ConfigError(`${file}: ${st.size} bytes is larger than the ${maxBytes / 1024 / 1024} MiB a stack file may be`, 'split it: environments can live in their own env_file, templates in templates/');
  }
  try {
    return readFileSync(abs);
  } catch (e) {
    throw new ConfigError(`${file}: cannot read the stack file (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The YAML document of the stack file's bytes, with source ranges; every problem a ConfigError at file:line:col. */
export function parseStackSource(file: string, bytes: Buffer): Source {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Decoding with replacement characters would let a mangled value through unseen.
    const at = Math.max(0, firstBadUtf8(bytes));
    const prefix = bytes.subarray(0, at).toString('utf8');
    const before = prefix.split('\n');
    const where = `${before.length}:${before[before.length - 1].length + 1}`;
    // The key it sits under, from a lenient read (replacement characters) of the same text.
    const lenient = parseDocument(bytes.toString('utf8'), { prettyErrors: false });
    const keyPath = keyPathAtOffset(lenient, prefix.length);
    throw new ConfigError(`${file}:${where}: ${keyPath.length ? keyPath.join('.') : '(top level)'}: the stack file is not valid UTF-8 (byte 0x${(bytes[at] ?? 0).toString(16).padStart(2, '0')} at offset ${at})`, 'save the stack file as UTF-8');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new ConfigError(`${file}:1:1: (top level): the stack file is empty`, 'start from stacks/demo.yaml, or see `lifeops schema`');
  const lines = new LineCounter();
  // merge: YAML merge keys (`<<: *app`), as compose files use them.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true, merge: true });
  const problem = doc.errors[0];
  if (problem) {
    const pos = lines.linePos(problem.pos[0]);
    const what = problem.code === 'DUPLICATE_KEY' ? 'duplicate key' : 'YAML syntax error';
    const detail = problem.message.split('\n')[0].replace(/ at line \d+, column \d+.*$/, '');
    const keyPath = keyPathAtOffset(doc, problem.pos[0]);
    throw new ConfigError(`${file}:${pos.line}:${pos.col}: ${keyPath.length ? `${keyPath.join('.')}: ` : ''}${what}: ${detail}`);
  }
  const root = doc.contents;
  if (!isMap(root)) throw new ConfigError(`${file}:1:1: (top level): the stack file must be a mapping of keys (name, services, ...)`);
  // `__proto__` as a key would vanish in the JavaScript objects lifeops builds (an environment variable dropped unseen)
  visit(doc, {
    Pair(_k, pair, ancestors) {
      if (!isScalar(pair.key) || pair.key.value !== '__proto__') return;
      const pos = lines.linePos(pair.key.range?.[0] ?? 0);
      const keyPath = [...ancestorKeyPath(ancestors, pair), '__proto__'];
      throw new ConfigError(`${file}:${pos.line}:${pos.col}: ${keyPath.join('.')}: the key __proto__ cannot be carried through; valid: any other name`);
    },
  });
  return { file, doc, lines };
}

/** The key path of the innermost pair whose key or value spans `offset` (for YAML errors). */
function keyPathAtOffset(doc: Document.Parsed, offset: number): (string | number)[] {
  const out: (string | number)[] = [];
  let node: unknown = doc.contents;
  for (let depth = 0; depth < 100 && node; depth++) {
    if (isMap(node)) {
      // The last pair starting at or before the offset; an offset past its value still names it.
      const span = (p: { key: unknown; value: unknown }) => {
        const k = p.key as Node | null;
        const v = p.value as Node | null;
        return { start: k?.range?.[0] ?? v?.range?.[0] ?? Infinity, end: v?.range?.[1] ?? k?.range?.[1] ?? -1 };
      };
      const before = node.items.filter((p) => span(p).start <= offset);
      const pair = before[before.length - 1];
      if (!pair) break;
      out.push(isScalar(pair.key) ? String(pair.key.value) : '?');
      if (offset >= span(pair).end) break;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((it) => {
        const r = (it as Node | null)?.range;
        return r && offset >= r[0] && offset < r[1];
      });
      if (i < 0) break;
      out.push(i);
      node = node.items[i];
    } else break;
  }
  return out;
}

const MAX_ALIAS_COUNT = 1000;

/** The YAML document as plain data; alias problems (an unresolved alias, an alias bomb) are stack-file errors at the alias. */
export function stackValue(src: Source): Record<string, unknown> {
  try {
    return src.doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as Record<string, unknown>;
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    const unresolved = /Unresolved alias/i.test(message);
    const bomb = /alias count/i.test(message);
    if (!unresolved && !bomb) throw e;
    // Find the alias to blame: the first one naming no earlier anchor, or the
    // first one whose anchored node holds aliases itself (how a bomb grows).
    const anchors = new Set<string>();
    let blamed: { node: Alias; ancestors: readonly unknown[] } | undefined;
    let first: typeof blamed;
    visit(src.doc, (_key, node, ancestors) => {
      if (isAlias(node)) {
        first ??= { node, ancestors };
        if (unresolved && !anchors.has(node.source)) blamed = { node, ancestors };
        if (bomb) {
          const target = node.resolve(src.doc);
          let nested = false;
          if (target) visit(target as Node, { Alias: () => { nested = true; return visit.BREAK; } });
          if (nested) blamed = { node, ancestors };
        }
        if (blamed) return visit.BREAK;
      } else if ((node as { anchor?: string } | null)?.anchor) anchors.add((node as { anchor: string }).anchor);
      return undefined;
    });
    const hit = blamed ?? first;
    const pos = src.lines.linePos(hit?.node.range?.[0] ?? 0);
    const keyPath = hit ? ancestorKeyPath(hit.ancestors, hit.node) : [];
    const at = keyPath.length ? keyPath.join('.') : '(top level)';
    const problem = unresolved
      ? `alias *${hit?.node.source ?? '?'} names no anchor set before it; valid: an alias after its &anchor`
      : `aliases expand to more than ${MAX_ALIAS_COUNT} nodes (an alias bomb?) starting with *${hit?.node.source ?? '?'}; valid: at most ${MAX_ALIAS_COUNT} alias expansions in all`;
    throw new ConfigError(`${src.file}:${pos.line}:${pos.col}: ${at}: ${problem}`);
  }
}

function ancestorKeyPath(ancestors: readonly unknown[], node: unknown): (string | number)[] {
  const out: (string | number)[] = [];
  const chain = [...ancestors, node];
  for (let i = 0; i < chain.length - 1; i++) {
    const a = chain[i];
    const next = chain[i + 1];
    if (isPair(a)) {
      if (next === a.value) out.push(isScalar(a.key) ? String(a.key.value) : '?');
    } else if (isSeq(a)) out.push(a.items.indexOf(next as never));
  }
  return out;
}

export function environmentNames(src: Source): string[] {
  const envs = src.doc.get('environments');
  return isMap(envs) ? envs.items.map((p) => String((p.key as any).value)) : [];
}
