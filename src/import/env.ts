// The env file `lifeops import` writes beside the stack: the literal secrets
// taken out of the compose file, then every variable of the project's .env
// that the compose files read (wherever: a port, a volume path, restart:),
// with the .env lines those refer to, kept as written so lifeops' env reader
// (config/envfile.ts) expands them as compose does. A value that refers to a
// secret (DATABASE_URL=postgres://u:${POSTGRES_PASSWORD}@db) is a secret too.
// Pure.
import { envQuote, parseEnvEntries, type EnvEntry } from '../config/envfile.js';
import { braceBareVars, variableRefs } from '../config/interpolate.js';
import { isSecretName } from '../util/redact.js';
import type { Secrets } from './values.js';

export interface VariablePlan {
  entries: EnvEntry[];
  /** each .env variable as compose reads it */
  values: Record<string, string>;
}

export function planVariables(envText: string | undefined, processEnv: Record<string, string | undefined>, envFile: string): VariablePlan {
  const entries = envText === undefined ? [] : parseEnvEntries(envText, processEnv, envFile);
  return { entries, values: Object.fromEntries(entries.map((e) => [e.key, e.value])) };
}

const refsOf = (e: EnvEntry) => (e.quote === "'" ? [] : variableRefs(braceBareVars(e.raw)).map((r) => r.name));

export function envFileText(o: {
  plan: VariablePlan;
  secrets: Secrets;
  /** variables the compose files read, with the forms they are read in ('' for plain ${V}) */
  refs: Map<string, Set<string>>;
  /** unset variables the stack reads as ${V:-}: not written */
  unsetBoth: Set<string>;
  /** variables a bind mount's host path starts with */
  pathVars: Set<string>;
  relocate(p: string): string;
  notes: string[];
  envFile: string;
}): { text: string; secretVars: string[]; derivedSecrets: string[] } {
  const { plan, secrets } = o;
  const lines = ['# Written by lifeops import. Holds secrets: keep it out of version control.'];
  const secretVars = new Set<string>();
  for (const [k, v] of secrets.values) {
    lines.push(`${k}=${envQuote(v)}`);
    secretVars.add(k);
  }
  // the .env lines needed: those read, and those they refer to
  const needed = new Set([...o.refs.keys()].filter((n) => n in plan.values));
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of plan.entries) {
      if (!needed.has(e.key)) continue;
      for (const r of refsOf(e)) {
        if (!(r in plan.values) || needed.has(r)) continue;
        needed.add(r);
        grew = true;
      }
    }
  }
  const secretLike = new Set<string>();
  const derived: string[] = [];
  for (const e of plan.entries) {
    if (!needed.has(e.key) || secrets.values.get(e.key) === e.value) continue;
    const refs = refsOf(e);
    if (isSecretName(e.key)) secretLike.add(e.key);
    else if (refs.some((r) => secretLike.has(r) || isSecretName(r))) {
      secretLike.add(e.key);
      if (!derived.includes(e.key)) derived.push(e.key);
    }
    if (o.pathVars.has(e.key) && !refs.length && /^\.\.?(\/|$)/.test(e.value)) {
      const moved = o.relocate(e.value);
      if (moved !== e.value) o.notes.push(`${e.key}: a host path relative to the compose file, written relative to the stack file (${moved})`);
      lines.push(`${e.key}=${envQuote(moved)}`);
    } else lines.push(`${e.key}=${e.quote}${e.raw}${e.quote}`);
  }
  for (const n of secretLike) secretVars.add(n);
  const missing = [...o.refs].filter(([n, ops]) => ops.has('') && !(n in plan.values) && !secrets.values.has(n) && !o.unsetBoth.has(n)).map(([n]) => n).sort();
  for (const n of missing) {
    lines.push(`${n}=`);
    if (isSecretName(n)) secretVars.add(n);
  }
  if (missing.length) o.notes.push(`not set in ${o.envFile}: ${missing.join(', ')} (written empty, as compose reads an unset variable)`);
  return { text: lines.join('\n') + '\n', secretVars: [...secretVars].sort(), derivedSecrets: derived };
}
