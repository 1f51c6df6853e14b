// KEY=VALUE files as docker compose reads them (a project's .env, --env-file,
// an environment's env_file): comments, blank lines, optional `export`,
// single or double quotes (either may span lines). Unquoted and double-quoted
// values refer to other variables as compose does (${A}, $A, ${A:-x},
// ${A:?msg}, ${A:+x}, nested): earlier lines of the file, under the
// environment given (which wins, as in compose). Single-quoted values are
// literal. Double quotes read \n \t \\ \" and \$ escapes; unquoted values read
// none, and lose a trailing ` # comment`.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { braceBareVars, interpolateString } from './interpolate.js';

export interface EnvEntry {
  key: string;
  /** the value as compose reads it */
  value: string;
  /** the value as written, quotes taken off */
  raw: string;
  quote: '' | '"' | "'";
  /** 1-based line the entry starts on */
  line: number;
}

const DOUBLE_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', $: '$$' };

/** The entries of an env file in order; `lookup` (the process environment) wins over the file's own lines when expanding. */
export function parseEnvEntries(text: string, lookup: Record<string, string | undefined> = {}, file = '.env'): EnvEntry[] {
  const lines = text.split(/\r?\n/);
  const out: EnvEntry[] = [];
  const seen: Record<string, string> = {};
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/s.exec(line);
    if (!m) continue;
    const start = n;
    const rest = m[2];
    let quote: EnvEntry['quote'] = '';
    let raw: string;
    if (rest[0] === '"' || rest[0] === "'") {
      quote = rest[0] as '"' | "'";
      // find the closing quote (a double-quoted value may escape it), across lines if need be
      let body = rest.slice(1);
      let close = closingQuote(body, quote);
      while (close < 0 && n + 1 < lines.length) {
        body += '\n' + lines[++n];
        close = closingQuote(body, quote);
      }
      raw = close < 0 ? body : body.slice(0, close);
    } else raw = rest.replace(/\s+#.*$/, '');
    let value = raw;
    if (quote !== "'") {
      const escaped = quote === '"' ? raw.replace(/\\([ntr\\"$])/g, (_, c: string) => DOUBLE_ESCAPES[c]) : raw;
      const vars: Record<string, string> = { ...seen };
      for (const [k, v] of Object.entries(lookup)) if (v !== undefined) vars[k] = v;
      const r = interpolateString(braceBareVars(escaped), vars);
      if (r.error) throw new ConfigError(`${file}:${start + 1}: ${m[1]}: ${r.error}`, `set it earlier in ${file} or in the environment`);
      value = r.value;
    }
    seen[m[1]] = value;
    out.push({ key: m[1], value, raw, quote, line: start + 1 });
  }
  return out;
}

function closingQuote(body: string, quote: string): number {
  for (let i = 0; i < body.length; i++) {
    if (quote === '"' && body[i] === '\\') i++;
    else if (body[i] === quote) return i;
  }
  return -1;
}

export function parseEnvText(text: string, lookup: Record<string, string | undefined> = {}, file?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of parseEnvEntries(text, lookup, file)) out[e.key] = e.value;
  return out;
}

export function parseEnvFile(file: string, lookup: Record<string, string | undefined> = {}): Record<string, string> {
  return parseEnvText(readFileSync(file, 'utf8'), lookup, file);
}

/** A value written so that this reader and compose read back exactly `v` (no expansion). */
export function envQuote(v: string): string {
  if (/^[A-Za-z0-9_./:@%+,-]*$/.test(v)) return v;
  if (!v.includes("'")) return `'${v}'`;
  return `"${v.replace(/[\\"$]/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r')}"`;
}
