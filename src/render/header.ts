// The header every rendered file starts with: what it is, where it came from,
// and that hand edits are lost on the next render. One module that every
// renderer can import without importing another renderer.
import path from 'node:path';
import type { Stack } from '../config/schema.js';

export function renderedHeader(stack: Stack): string {
  return `Rendered by lifeops from ${path.basename(stack.file)} (environment ${stack.env}). Do not edit: run \`lifeops render\`.`;
}

/** A rendered file's header: what it is, then where it came from. */
export function fileHeader(stack: Stack, what: string): string {
  return `${what}\n${renderedHeader(stack)}`;
}
