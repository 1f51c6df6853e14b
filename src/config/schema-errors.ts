// A schema failure as the operator reads it: each zod issue becomes a line
// `file:line:col: key.path: what was found; what is valid`, with "did you
// mean" for an unknown key and the keys valid at that place.
import type { ZodError } from 'zod';
import { ConfigError } from '../errors.js';
import { stackFileSchema } from './schema.js';
import { locate, locateKey, sourcePath, keySourcePath, type Source } from './source.js';
import { didYouMean, describeValue } from './suggest.js';
import { validKeysOf } from './compose-spec.js';

function getAt(obj: unknown, keyPath: PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const k of keyPath) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

function zodIssueMessage(issue: ZodError['issues'][number], found: unknown): { text: string; unknownKeys?: string[] } {
  switch (issue.code) {
    case 'unrecognized_keys':
      return { text: 'unknown key', unknownKeys: issue.keys };
    case 'invalid_type':
      return { text: `expected ${issue.expected}, found ${describeValue(found)}` };
    case 'invalid_value':
      return { text: `found ${describeValue(found)}; valid values: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}` };
    case 'invalid_format':
      return { text: `found ${describeValue(found)}; expected ${issue.message.replace(/^Invalid string: /, '')}` };
    case 'too_small':
    case 'too_big':
      return { text: `found ${describeValue(found)}; ${issue.message}` };
    case 'invalid_union': {
      // what each alternative wanted: "a string or a number", 'a size such as "512M" or an integer ...'
      const alts = issue.errors.map((branch) => branch[0]).filter((i) => i !== undefined);
      const said = [...new Set(alts.map((i) => (i.code === 'invalid_type' ? `${/^[aeiou]/.test(i.expected) ? 'an' : 'a'} ${i.expected}` : i.code === 'invalid_format' ? i.message.replace(/^Invalid string: /, '') : i.code === 'invalid_value' ? i.values.map((v) => JSON.stringify(v)).join(' or ') : i.message)))];
      return { text: `found ${describeValue(found)}; valid: ${said.length ? said.join(' or ') : issue.message}` };
    }
    default:
      return { text: `found ${describeValue(found)}; ${issue.message}` };
  }
}

/** The valid keys as printed: at a service, network or volume, lifeops' own and a pointer to compose's. */
export function listValid(keyPath: PropertyKey[], valid: string[]): string {
  const kind = keyPath.length === 2 ? ({ services: 'service', networks: 'network', volumes: 'volume' } as const)[keyPath[0] as string] : undefined;
  if (!kind) return valid.join(', ');
  const own = Object.keys((unwrap((stackFileSchema.shape as any)[keyPath[0] as string])._zod.def.valueType as any).shape ?? {});
  return `${own.join(', ')}, or any ${kind} key of the Compose Specification (${valid.filter((k) => !own.includes(k)).slice(0, 6).join(', ')}, ...)`;
}

/** The keys valid at a key path (for "did you mean" and the list printed). */
export function validKeysAt(keyPath: PropertyKey[]): string[] {
  if (keyPath.length === 2 && keyPath[0] === 'services') return validKeysOf('service');
  if (keyPath.length === 2 && keyPath[0] === 'networks') return validKeysOf('network');
  if (keyPath.length === 2 && keyPath[0] === 'volumes') return validKeysOf('volume');
  // Walk the schema's shape to list the keys valid at this path (for "did you mean").
  let schema: any = stackFileSchema;
  for (const k of keyPath) {
    schema = unwrap(schema);
    if (schema?.shape) schema = schema.shape[k as string];
    else if (schema?._zod?.def?.type === 'record') schema = schema._zod.def.valueType;
    else if (schema?._zod?.def?.type === 'array') schema = schema._zod.def.element;
    else return [];
  }
  schema = unwrap(schema);
  return schema?.shape ? Object.keys(schema.shape) : [];
}

function unwrap(schema: any): any {
  let s = schema;
  for (let i = 0; i < 10 && s?._zod?.def; i++) {
    const def = s._zod.def;
    if (def.innerType) s = def.innerType;
    else if (def.type === 'pipe') s = def.in;
    else break;
  }
  return s;
}

/** The first five issues, each at its place in the stack file (an overlay's key where the overlay sets it). */
export function schemaError(src: Source, error: ZodError, value: unknown, envName: string): ConfigError {
  const lines: string[] = [];
  for (const issue of error.issues.slice(0, 5)) {
    const keyPath = issue.path as (string | number)[];
    const found = getAt(value, keyPath);
    const msg = zodIssueMessage(issue, found);
    // A key set by the overlay is reported where the overlay sets it.
    const srcPath = sourcePath(src, envName, keyPath);
    if (msg.unknownKeys) {
      const valid = validKeysAt(keyPath);
      for (const key of msg.unknownKeys) {
        const hint = didYouMean(key, valid);
        const where = locateKey(src, keySourcePath(src, envName, keyPath, key), key);
        lines.push(
          `${src.file}:${where}: ${[...keyPath, key].join('.')}: unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; valid keys: ${listValid(keyPath, valid)}`,
        );
      }
    } else {
      const keyName = keyPath.length ? keyPath.join('.') : '(top level)';
      const where = found === undefined && keyPath.length ? locate(src, srcPath.slice(0, -1)) : locate(src, srcPath);
      // a refinement that asks for a key not given keeps its own words (what the key is for)
      const text = found === undefined ? (issue.code === 'custom' ? `missing: ${issue.message}` : `missing required key${issue.code === 'invalid_type' ? ` (expected ${(issue as any).expected})` : ''}`) : msg.text;
      lines.push(`${src.file}:${where}: ${keyName}: ${text}`);
    }
  }
  if (error.issues.length > 5) lines.push(`... and ${error.issues.length - 5} more problems`);
  return new ConfigError(lines.join('\n'), 'see `lifeops schema` for every valid key');
}
