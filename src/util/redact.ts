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
