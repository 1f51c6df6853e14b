// Value types of the stack file schema: names, durations, sizes, tokens that
// reach rendered directives, ports. Shared by the service and block schemas.
import { z } from 'zod';
import { numeric } from './numeric.js';

export const name = z
  .string()
  .regex(/^[a-z][a-z0-9_-]*$/, 'lower-case letters, digits, "-" or "_", starting with a letter');
export const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as "500ms", "30s", "5m", "1h", "7d"');
// At least one byte and at most 64 TiB: "0M" means "unlimited" to Docker and
// "99999999999999999999g" would render as 1.024e+23m.
export const MAX_SIZE_BYTES = 64 * 1024 ** 4;
const sizeBytes = (t: string) => {
  const m = /^(\d+(?:\.\d+)?)([kmg])?b?$/i.exec(t);
  const unit: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  return m ? Number(m[1]) * unit[(m[2] ?? '').toLowerCase()] : NaN;
};
export const memSize = z
  .string()
  .regex(/^\d+(\.\d+)?[kmg]b?$/i, 'a size such as "512M", "1.5G", "200MB"')
  .refine((t) => { const b = sizeBytes(t); return b >= 1 && b <= MAX_SIZE_BYTES; }, 'a size of at least 1 byte and at most 64 TiB, such as "512M"');
// Values that reach nginx/prometheus/gunicorn directives: no quotes, braces,
// semicolons or newlines, so nothing can close a directive or open another.
export const safeToken = z
  .string()
  .regex(/^[A-Za-z0-9_.:\/@*+=,%~-]+$/, 'letters, digits and . : / @ * + = , % ~ - _ only (no spaces, quotes, ";", "{", "}" or newlines)');
export const hostname = z
  .string()
  // lower case only, as the JSON Schema (`lifeops schema`) says: the name becomes file names and nginx's server_name
  .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a DNS host name in lower case such as "example.com"');
// Postgres user and database names that reach pgbouncer.ini/userlist.txt.
export const pgIdent = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'letters, digits, "_" or "-", starting with a letter or "_"');
export const email = z.string().regex(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/, 'an e-mail address such as "ops@example.com"');
export const urlPath = z.string().regex(/^\/[A-Za-z0-9_.\/~-]*$/, 'an absolute URL path such as "/health"');
export const port = numeric(z.number().int().min(1).max(65535));
export const cpus = numeric(z.number().positive().max(256));

/** "IP:HOST:CONTAINER" with every port in 1..65535 and every address part in 0..255. */
export function portMappingInRange(spec: string): boolean {
  const parts = spec.replace(/\/(tcp|udp)$/, '').split(':');
  const ip = parts.length === 3 ? parts.shift()! : undefined;
  if (ip !== undefined && ip.split('.').some((o) => Number(o) > 255)) return false;
  return parts.filter(Boolean).every((p) => p.split('-').every((n) => Number(n) >= 1 && Number(n) <= 65535));
}

export const stringOrList = z.union([z.string(), z.array(z.string())]);
