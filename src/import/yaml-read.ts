// Reading one compose file for `lifeops import`: YAML with merge keys, the
// positions of its keys (file:line:col in messages), compose's `!reset` and
// `!override` tags, and a guard against alias bombs that measures what the
// aliases expand to (a billion-laughs file is a few hundred bytes that expand
// to a billion values), not how often they are used: a real file with
// hundreds of `<<: *defaults` is small once expanded and is read. Pure.
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, Scalar, visit, type Document, type Node } from 'yaml';
import { ConfigError } from '../errors.js';

/** Most values a compose file may expand to through its aliases (real files expand to thousands). */
export const MAX_EXPANDED_VALUES = 250_000;

/** What compose's `!reset` leaves in a value (the key is removed when files are merged). */
export const RESET = '\u0000lifeops:reset';
/** Appended to a key tagged `!override` (its value replaces the earlier file's instead of merging). */
export const OVERRIDE = '\u0000lifeops:override';

export interface ComposeYaml {
  file: string;
  doc: Document;
  raw: unknown;
  /** file:line:col of a key path, or of its nearest ancestor present in this file; undefined when none is */
  at(keyPath: (string | number)[]): string | undefined;
}

export function readComposeYaml(text: string, file: string): ComposeYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, { merge: true, uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  const pos = (offset = 0) => {
    const p = lines.linePos(offset);
    return `${file}:${p.line}:${p.col}`;
  };
  const at = (keyPath: (string | number)[]): string | undefined => {
    for (let n = keyPath.length; n > 0; n--) {
      const parent = n > 1 ? doc.getIn(keyPath.slice(0, n - 1), true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((i) => isScalar(i.key) && i.key.value === keyPath[n - 1]);
        if (pair && isScalar(pair.key)) return pos(pair.key.range?.[0]);
      } else if (isSeq(parent) && typeof keyPath[n - 1] === 'number') {
        const item = parent.items[keyPath[n - 1] as number] as Node | undefined;
        if (item?.range) return pos(item.range[0]);
      }
    }
    return undefined;
  };
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new ConfigError(`${pos(e.pos[0])}: not a YAML file compose can read: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+.*$/, '')}`);
  }
  visit(doc, {
    Alias(_k, node) {
      if (!node.resolve(doc)) throw new ConfigError(`${pos(node.range?.[0])}: *${node.source}: an alias with no &${node.source} anchor before it; valid: aliases after their &anchor`);
    },
  });
  const big = largestExpansion(doc);
  if (big) {
    const where = big.path.length ? big.path.join('.') : '(top level)';
    throw new ConfigError(
      `${at(big.path) ?? pos(0)}: ${where}: its aliases expand to ${big.size === Infinity ? 'an endless value (an alias inside its own anchor)' : `${big.size.toLocaleString('en')} values`}; valid: aliases expanding to at most ${MAX_EXPANDED_VALUES.toLocaleString('en')} values in all`,
      'this looks like an alias bomb; write the repeated part once or with fewer nested aliases',
    );
  }
  markComposeTags(doc);
  const raw = doc.toJS({ maxAliasCount: -1 }) as unknown;
  return { file, doc, raw, at };
}

/**
 * The count of values the document expands to, each node's computed once
 * (an alias counts its anchor's size): when over the limit, the deepest key
 * whose own expansion is over it, to name in the message.
 */
function largestExpansion(doc: Document): { path: (string | number)[]; size: number } | undefined {
  const sizes = new Map<unknown, number>();
  const sizeOf = (node: unknown): number => {
    if (node === null || node === undefined) return 1;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    sizes.set(node, Infinity); // an alias to an anchor still being measured expands without end
    let n = 1;
    if (isAlias(node)) n = sizeOf(node.resolve(doc));
    else if (isMap(node) || isSeq(node)) {
      for (const item of node.items as unknown[]) n += isPair(item) ? sizeOf(item.key) + sizeOf(item.value) : sizeOf(item);
    }
    n = Math.min(n, Number.MAX_SAFE_INTEGER);
    sizes.set(node, n);
    return n;
  };
  const total = sizeOf(doc.contents);
  if (total <= MAX_EXPANDED_VALUES) return undefined;
  const path: (string | number)[] = [];
  let node: unknown = doc.contents;
  for (;;) {
    let next: { key: string | number; node: unknown } | undefined;
    if (isMap(node)) {
      for (const p of node.items) if (sizeOf(p.value) > MAX_EXPANDED_VALUES) next = { key: isScalar(p.key) ? String(p.key.value) : '?', node: p.value };
    } else if (isSeq(node)) node.items.forEach((item, i) => { if (!next && sizeOf(item) > MAX_EXPANDED_VALUES) next = { key: i, node: item }; });
    // the key whose value holds the aliases is the one to name, not the anchors they point at
    if (!next) break;
    if (isAlias(next.node)) {
      if (typeof next.key === 'string') path.push(next.key);
      break;
    }
    path.push(next.key);
    node = next.node;
    if (path.length > 64) break;
  }
  return { path, size: total };
}

/** compose's `!reset` (drop the key) and `!override` (replace, do not merge) tags as markers the merge reads. */
function markComposeTags(doc: Document): void {
  visit(doc, {
    Pair(_k, pair) {
      const v = pair.value as Node | null;
      if (!v || !('tag' in v)) return;
      if (v.tag === '!reset') pair.value = new Scalar(RESET);
      else if (v.tag === '!override' && isScalar(pair.key)) {
        v.tag = undefined;
        pair.key = new Scalar(`${String(pair.key.value)}${OVERRIDE}`);
      }
    },
  });
}
