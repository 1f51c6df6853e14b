// Numbers in the stack file: a YAML number, or a string holding only a number
// ("8000", as compose files often quote them). z.coerce.number() would also
// take [8000], true, "" or null for 8000, 1, 0 and 0: a value rendered wrong
// without a word. Pure.
import { z } from 'zod';

const NUMBER_TEXT = /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/;

/** `schema` (a z.number() chain) that also reads a string holding a number. */
export function numeric<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (typeof v === 'string' && NUMBER_TEXT.test(v) ? Number(v) : v), schema);
}
