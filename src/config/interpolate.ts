// ${VAR} interpolation over a parsed stack tree, compose-style:
//   ${VAR}  ${VAR:-default}  ${VAR-default}  ${VAR:?message}  ${VAR:+other}
//   (arguments may nest references: ${A:-${B}})  $$ (a literal $)
// For strings that use a secret variable we also keep a template with the
// ${VAR} reference left in place, so renderers never write the secret itself.

export interface InterpolationError {
  path: (string | number)[];
  message: string;
}

export interface InterpolationResult {
  value: unknown;
  errors: InterpolationError[];
  /** variables referenced without a default and not set */
  unset: string[];
  /** each such reference with the key path of the value that holds it (document order) */
  unsetRefs: { name: string; path: (string | number)[] }[];
  secretTemplates: Record<string, string>;
}

/** One ${...} reference as written: the variable and its operator ('' for plain ${VAR}). */
export interface VariableRef {
  name: string;
  op: '' | '-' | ':-' | '?' | ':?' | '+' | ':+';
}

interface Scan {
  value: string;
  template: string;
  usedSecret: boolean;
  end: number;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const OP = /^(:?[-?+])/;

/**
 * Reads `s` from `i`: literal text, `$$`, and ${NAME}, ${NAME:-x}, ${NAME-x},
 * ${NAME:?x}, ${NAME?x}, ${NAME:+x}, ${NAME+x} where x may itself hold
 * references (compose reads `${A:-${B}}`). Inside an argument it stops at the
 * `}` that closes it. A `$` before anything else is kept as written.
 */
function scan(
  s: string,
  i: number,
  nested: boolean,
  vars: Record<string, string>,
  isSecret: (name: string) => boolean,
  out: { errors: string[]; unset: string[]; refs: VariableRef[] },
): Scan {
  let value = '';
  let template = '';
  let usedSecret = false;
  while (i < s.length) {
    const c = s[i];
    if (nested && c === '}') break;
    if (c !== '$' || (s[i + 1] !== '$' && s[i + 1] !== '{')) {
      value += c;
      template += c === '$' ? '$$' : c;
      i++;
      continue;
    }
    if (s[i + 1] === '$') {
      value += '$';
      template += '$$';
      i += 2;
      continue;
    }
    const name = NAME.exec(s.slice(i + 2))?.[0];
    let j = i + 2 + (name?.length ?? 0);
    const op = (name ? (OP.exec(s.slice(j))?.[1] ?? '') : '') as VariableRef['op'];
    if (!name || (!op && s[j] !== '}')) {
      const close = s.indexOf('}', i);
      out.errors.push(`bad variable reference ${JSON.stringify(close < 0 ? s.slice(i) : s.slice(i, close + 1))}; write \${NAME}, \${NAME:-default} or $$ for a literal $`);
      value += s.slice(i, close < 0 ? s.length : close + 1);
      template += s.slice(i, close < 0 ? s.length : close + 1).replace(/\$/g, '$$$$');
      i = close < 0 ? s.length : close + 1;
      continue;
    }
    out.refs.push({ name, op });
    let arg: Scan = { value: '', template: '', usedSecret: false, end: j };
    if (op) {
      arg = scan(s, j + op.length, true, vars, isSecret, out);
      if (s[arg.end] !== '}') {
        out.errors.push(`bad variable reference ${JSON.stringify(s.slice(i))}: no closing "}"`);
        value += s.slice(i);
        template += s.slice(i).replace(/\$/g, '$$$$');
        i = s.length;
        continue;
      }
      j = arg.end;
    }
    i = j + 1;
    const current = vars[name];
    const isSet = current !== undefined;
    const nonEmpty = isSet && current !== '';
    // which one the value comes from: the variable, the argument, or nothing
    let from: 'var' | 'arg' | 'none' = 'var';
    if (op === ':-') from = nonEmpty ? 'var' : 'arg';
    else if (op === '-') from = isSet ? 'var' : 'arg';
    else if (op === ':+') from = nonEmpty ? 'arg' : 'none';
    else if (op === '+') from = isSet ? 'arg' : 'none';
    else if (op === ':?' || op === '?') {
      if (!(op === ':?' ? nonEmpty : isSet)) out.errors.push(`variable ${name} is required: ${arg.value || 'not set'}`);
    } else if (!isSet) out.unset.push(name);
    if (from === 'arg') {
      value += arg.value;
      template += arg.template;
      usedSecret ||= arg.usedSecret;
    } else if (from === 'var') {
      value += current ?? '';
      if (isSecret(name) && (isSet || !op)) {
        usedSecret = true;
        template += `\${${name}}`;
      } else template += (current ?? '').replace(/\$/g, '$$$$');
    }
  }
  return { value, template, usedSecret, end: i };
}

export function interpolateString(
  input: string,
  vars: Record<string, string>,
  isSecret: (name: string) => boolean = () => false,
): { value: string; template?: string; error?: string; unset: string[] } {
  const out = { errors: [] as string[], unset: [] as string[], refs: [] as VariableRef[] };
  const r = scan(input, 0, false, vars, isSecret, out);
  return { value: r.value, template: r.usedSecret ? r.template : undefined, error: out.errors[out.errors.length - 1], unset: out.unset };
}

/** Every ${...} reference in a string, nested ones included, in order; `$$` is no reference. */
export function variableRefs(input: string): VariableRef[] {
  const out = { errors: [] as string[], unset: [] as string[], refs: [] as VariableRef[] };
  scan(input, 0, false, {}, () => false, out);
  return out.refs;
}

/** compose's bare `$VAR` as `${VAR}` (lifeops interpolates only the braced form); `$$` stays. */
export function braceBareVars(s: string): string {
  return s.replace(/\$(\$|\{|[A-Za-z_][A-Za-z0-9_]*)/g, (m, g: string) => (g === '$' || g === '{' ? m : `\${${g}}`));
}

export function interpolateTree(
  tree: unknown,
  vars: Record<string, string>,
  isSecret: (name: string) => boolean,
): InterpolationResult {
  const errors: InterpolationError[] = [];
  const unset = new Set<string>();
  const unsetRefs: { name: string; path: (string | number)[] }[] = [];
  const secretTemplates: Record<string, string> = {};
  const walk = (node: unknown, at: (string | number)[]): unknown => {
    if (typeof node === 'string') {
      if (!node.includes('$')) return node;
      const r = interpolateString(node, vars, isSecret);
      if (r.error) errors.push({ path: at, message: r.error });
      r.unset.forEach((u) => {
        unset.add(u);
        unsetRefs.push({ name: u, path: at });
      });
      if (r.template !== undefined) secretTemplates[at.join('.')] = r.template;
      return r.value;
    }
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...at, i]));
    if (node && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = walk(v, [...at, k]);
      return out;
    }
    return node;
  };
  const value = walk(tree, []);
  return { value, errors, unset: [...unset], unsetRefs, secretTemplates };
}
