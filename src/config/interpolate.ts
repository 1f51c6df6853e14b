// ${VAR} interpolation over a parsed stack tree, compose-style:
//   ${VAR}  ${VAR:-default}  ${VAR-default}  ${VAR:?message}  $$ (a literal $)
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

const PATTERN = /\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-|:?\?)([^}]*))?\}|\{[^}]*\}?)/g;

export function interpolateString(
  input: string,
  vars: Record<string, string>,
  isSecret: (name: string) => boolean = () => false,
): { value: string; template?: string; error?: string; unset: string[] } {
  const unset: string[] = [];
  let usedSecret = false;
  let error: string | undefined;
  let template = '';
  let last = 0;
  let value = '';
  for (const m of input.matchAll(PATTERN)) {
    const literal = input.slice(last, m.index);
    value += literal;
    template += literal.replace(/\$/g, '$$$$');
    last = m.index! + m[0].length;
    if (m[1] === '$') {
      value += '$';
      template += '$$';
      continue;
    }
    const name = m[2];
    if (!name) {
      error = `bad variable reference ${JSON.stringify(m[0])}; write \${NAME}, \${NAME:-default} or $$ for a literal $`;
      continue;
    }
    const op = m[3];
    const arg = m[4] ?? '';
    const current = vars[name];
    const isSet = current !== undefined;
    const nonEmpty = isSet && current !== '';
    let resolved: string;
    if (op === ':-') resolved = nonEmpty ? current! : arg;
    else if (op === '-') resolved = isSet ? current! : arg;
    else if (op === ':?' || op === '?') {
      const ok = op === ':?' ? nonEmpty : isSet;
      if (!ok) error = `variable ${name} is required: ${arg || 'not set'}`;
      resolved = current ?? '';
    } else {
      if (!isSet) unset.push(name);
      resolved = current ?? '';
    }
    value += resolved;
    if (isSecret(name) && (isSet || !op)) {
      usedSecret = true;
      template += `\${${name}}`;
    } else template += resolved.replace(/\$/g, '$$$$');
  }
  const rest = input.slice(last);
  value += rest;
  template += rest.replace(/\$/g, '$$$$');
  return { value, template: usedSecret ? template : undefined, error, unset };
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
