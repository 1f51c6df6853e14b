// Strings that some YAML reader would take for something else, quoted. The
// readers of a stack file or a compose file disagree: YAML 1.1 ones (PyYAML,
// compose v1, go-yaml into typed fields) read `yes`, `on`, `y`, `0755`, `12:30`
// as booleans, octals and base-60 numbers; YAML 1.2 ones (lifeops itself,
// compose v2) read `0o755` and `0x1f` as numbers. A plain string is safe only
// when every reader reads it back as the same string, so anything else is
// written double-quoted. Pure.
import { parse, visit, isScalar, type Document } from 'yaml';

const readers = [{ version: '1.2' as const }, { version: '1.1' as const }];

/** A plain (unquoted) scalar some reader would not read back as this very string. */
export function ambiguousScalar(s: string): boolean {
  // forms one of the readers in use resolves beyond the yaml package's own 1.1 schema
  if (/^[-+]?(0[0-7_]+|0o[0-7_]+|0x[0-9a-f_]+|0b[01_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)$/i.test(s)) return true;
  if (s === '<<' || s === '=' || s === '') return true;
  // a plain string starting with a letter resolves to something else only as one of these words
  if (/^[A-Za-z][A-Za-z0-9_./-]*$/.test(s)) return /^(y|yes|n|no|true|false|on|off|null)$/i.test(s);
  for (const opts of readers) {
    try {
      if (parse(s, opts) !== s) return true;
    } catch {
      return true;
    }
  }
  return false;
}

/** Mark every ambiguous string scalar of the document (keys too) double-quoted, in place. */
export function quoteAmbiguous(doc: Document): Document {
  visit(doc, {
    Scalar(_key, node) {
      if (isScalar(node) && typeof node.value === 'string' && ambiguousScalar(node.value) && !node.value.includes('\n')) node.type = 'QUOTE_DOUBLE';
    },
  });
  return doc;
}
