// How stack values are written into docker-compose.yml (shared by the compose,
// mount and monitoring renderers).
import type { Stack } from '../config/schema.js';

export const escapeDollar = (s: string) => s.replace(/\$/g, '$$$$');

/**
 * A stack value as it goes into docker-compose.yml: a secret stays the
 * ${VAR} reference it was written as (compose reads the value from its
 * environment); anything else is written literally, `$` escaped.
 * `literal` shapes the plain value first (URL-encoding, say).
 */
export function composeValue(stack: Stack, key: string, value: string, literal: (v: string) => string = (v) => v): string {
  return stack.secretTemplates[key] ?? escapeDollar(literal(value));
}
