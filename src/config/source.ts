// Where a key sits in the stack file. The loader keeps the parsed YAML
// document (with source ranges) of every stack it returns, so an error found
// later about one key, by a renderer that has only the resolved stack, can
// still name the file:line:column, like the loader's own errors do.
import { isMap, isSeq, isScalar, isPair, type Document, type LineCounter, type Node } from 'yaml';
import { ConfigError, type KeyPath } from '../errors.js';
import type { Stack } from './schema.js';

export interface Source {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

/** line:column of the node at `keyPath`, walking as far as the path exists. */
export function locate(src: Source, keyPath: KeyPath): string {
  let node: Node | null | undefined = src.doc.contents as Node;
  let best: Node | null | undefined = node;
  let keyNode: Node | undefined;
  for (const key of keyPath) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
      if (!pair) break;
      keyNode = pair.key as Node;
      node = pair.value as Node;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key] as Node;
      keyNode = undefined;
    } else break;
    best = node ?? keyNode;
  }
  const target = keyNode && (!best || best === keyNode) ? keyNode : best;
  const offset = target?.range?.[0] ?? keyNode?.range?.[0] ?? 0;
  const pos = src.lines.linePos(offset);
  return `${pos.line}:${pos.col}`;
}

export function locateKey(src: Source, keyPath: KeyPath, key: string): string {
  const parent = src.doc.getIn(keyPath, true) as Node | undefined;
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    if (pair?.key && (pair.key as Node).range) {
      const pos = src.lines.linePos((pair.key as Node).range![0]);
      return `${pos.line}:${pos.col}`;
    }
  }
  return locate(src, keyPath);
}

export function hasPath(src: Source, keyPath: KeyPath): boolean {
  return src.doc.hasIn(keyPath);
}

/**
 * Where a key path is written: in the environment's overlay when the overlay
 * sets it (its value wins over the base's: mappings merge, the rest is
 * replaced), else in the base.
 */
export function sourcePath(src: Source, envName: string, keyPath: KeyPath): (string | number)[] {
  const inOverlay = hasPath(src, ['environments', envName, ...keyPath]);
  return inOverlay ? ['environments', envName, ...keyPath] : [...keyPath];
}

/** Where the mapping holding `key` is written, for a key named by an error (unknown key, say). */
export function keySourcePath(src: Source, envName: string, parentPath: KeyPath, key: string): (string | number)[] {
  const overlay = ['environments', envName, ...parentPath];
  if (hasPath(src, [...overlay, key])) return overlay;
  if (hasPath(src, [...parentPath, key])) return [...parentPath];
  return sourcePath(src, envName, parentPath);
}

// Keyed by the Stack object loadStack returned: nothing is added to the stack
// itself (it is printed, hashed and compared), and a stack built another way
// (a test's literal, a copy) simply has no source and its errors no line.
const sources = new WeakMap<Stack, { src: Source; envName: string }>();

/** Called by loadStack for the stack it returns. */
export function rememberSource(stack: Stack, src: Source, envName: string): void {
  sources.set(stack, { src, envName });
}

/** `file:line:col` of a key path in the stack file `stack` was loaded from; undefined when unknown. */
export function stackKeyLocation(stack: Stack, keyPath: KeyPath): string | undefined {
  const known = sources.get(stack);
  if (!known) return undefined;
  return `${known.src.file}:${locate(known.src, sourcePath(known.src, known.envName, keyPath))}`;
}

/** A ConfigError about one key, with that key's file:line:col in front when the stack's source is known. */
export function locateConfigError(stack: Stack, err: ConfigError): ConfigError {
  if (!err.keyPath || err.source) return err;
  const where = stackKeyLocation(stack, err.keyPath);
  return where ? err.withSource(where) : err;
}
