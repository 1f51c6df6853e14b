// Secrets never reach logs, errors, rendered comments or --json output:
// every string bound for those goes through a Redactor built from the
// resolved secret values.

const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|ACCESS_KEY|_KEY$|^KEY$|WEBHOOK|CREDENTIAL|ROUTING_KEY)/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export const MASK = '***';

export class Redactor {
  private readonly values: string[];

  constructor(secrets: Iterable<string>) {
    // Longest first, so a secret containing another is masked whole.
    this.values = [...new Set([...secrets].filter((s) => s.length >= 3))].sort((a, b) => b.length - a.length);
  }

  static forVars(vars: Record<string, string>, secretNames: Iterable<string>): Redactor {
    const names = new Set(secretNames);
    const values: string[] = [];
    for (const [k, v] of Object.entries(vars)) {
      if (!(names.has(k) || isSecretName(k)) || !v) continue;
      values.push(v);
      // Passwords also show up URL-encoded inside connection strings.
      const encoded = encodeURIComponent(v);
      if (encoded !== v) values.push(encoded);
    }
    return new Redactor(values);
  }

  text(input: string): string {
    let out = input;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join(MASK);
    // user:password@ in URLs, whatever the password is
    return out.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:\/\s@]*:)[^@\s\/]+@/gi, `$1${MASK}@`);
  }

  value<T>(input: T): T {
    if (typeof input === 'string') return this.text(input) as T;
    if (Array.isArray(input)) return input.map((x) => this.value(x)) as T;
    if (input && typeof input === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(input)) out[k] = isSecretName(k) && typeof v === 'string' && v ? MASK : this.value(v);
      return out as T;
    }
    return input;
  }
}

/** One value and its URL-encoded form (passwords also show up inside connection strings). */
function withEncoded(v: string): string[] {
  const encoded = encodeURIComponent(v);
  return encoded !== v ? [v, encoded] : [v];
}

/** What a stack knows that may hold secrets, in the shape redactor needs (no config types: util stays below config). */
export interface StackSecretSources {
  /** resolved variables: process environment, the environment's env_file, defaults */
  vars: Record<string, string>;
  /** names declared or recognised as secret */
  secretNames: Iterable<string>;
  /** variables read from the services' own env_file files (compose passes them to the containers) */
  serviceEnvFiles: Record<string, string>[];
  /** the services' resolved environment maps (literals written in the stack included) */
  serviceEnvironments: Record<string, unknown>[];
  /** resolved values that are secret wherever they sit (datastore passwords, webhook URLs, routing keys) */
  values: (string | undefined)[];
}

/**
 * Every secret a stack resolves: secret-named variables from the process
 * environment and env_files (the environment's and each service's), secret-
 * named keys of the services' environment maps even when written literally,
 * and the values the stack marks secret by position.
 */
export function stackRedactor(src: StackSecretSources): Redactor {
  const names = new Set(src.secretNames);
  const secret = (k: string) => names.has(k) || isSecretName(k);
  const values: string[] = [];
  const learn = (map: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(map)) if (secret(k) && typeof v === 'string' && v) values.push(...withEncoded(v));
  };
  learn(src.vars);
  for (const m of src.serviceEnvFiles) learn(m);
  for (const m of src.serviceEnvironments) learn(m);
  for (const v of src.values) if (v) values.push(...withEncoded(v));
  return new Redactor(values);
}
