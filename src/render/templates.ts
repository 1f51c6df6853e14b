// Tiny {{placeholder}} templates for text formats. Built-in templates live in
// the repository's templates/ folder; a stack's `templates:` map (rendered path
// -> template file relative to the stack file) overrides one. Substitution is
// exact and strict: an unknown or missing placeholder is an error, so a
// template typo never renders a half-empty file. Values are validated by the
// schema before they get here; fill() only refuses values with a newline
// where the caller said a single token is expected.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Stack } from '../config/schema.js';
import { ConfigError } from '../errors.js';

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** The built-in templates folder: the nearest `templates/` above this module. */
export function builtinTemplateDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'templates');
    if (existsSync(path.join(candidate, 'nginx', 'nginx.conf'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('lifeops: built-in templates folder not found');
}

/** Replace every {{name}} with values[name]; throws on a placeholder without a value. */
export function fill(template: string, values: Record<string, string | number>, source = 'template'): string {
  const used = new Set<string>();
  const out = template.replace(PLACEHOLDER, (_m, key: string) => {
    if (!(key in values)) throw new Error(`${source}: no value for {{${key}}}`);
    used.add(key);
    return String(values[key]);
  });
  return out;
}

/**
 * The template text for a rendered file: the stack's override, else the
 * built-in one. A stack's override that cannot be read is a ConfigError on its
 * `templates.<path>` key; a missing built-in one is a broken install (exit 1).
 */
export function loadTemplate(stack: Pick<Stack, 'templates' | 'baseDir'>, renderedPath: string, builtin: string): { text: string; source: string; override: boolean } {
  const override = stack.templates[renderedPath];
  const file = override !== undefined ? path.resolve(stack.baseDir, override) : path.join(builtinTemplateDir(), builtin);
  const source = override !== undefined ? override : `templates/${builtin}`;
  try {
    return { text: readFileSync(file, 'utf8'), source, override: override !== undefined };
  } catch (e) {
    const problem = `${source}: cannot read template for ${renderedPath} (${(e as NodeJS.ErrnoException).code ?? 'error'})`;
    if (override === undefined) throw new Error(problem);
    throw ConfigError.at(['templates', renderedPath], `${problem}; valid: a readable file, relative to the stack file's folder ${stack.baseDir}`);
  }
}

/** Load and fill in one step. */
export function renderTemplate(stack: Pick<Stack, 'templates' | 'baseDir'>, renderedPath: string, builtin: string, values: Record<string, string | number>): string {
  const { text, source, override } = loadTemplate(stack, renderedPath, builtin);
  if (override) {
    // The stack's own template: a placeholder we have no value for is the stack file's problem.
    const unknown = [...text.matchAll(PLACEHOLDER)].map((m) => m[1]).find((key) => !(key in values));
    if (unknown !== undefined) {
      throw ConfigError.at(['templates', renderedPath], `${source}: no value for {{${unknown}}}; valid placeholders: ${Object.keys(values).join(', ')}`);
    }
  }
  return fill(text, values, source);
}

/** Indent every non-empty line of a block (for multi-line values inside templates). */
export function indent(block: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return block
    .split('\n')
    .map((l) => (l ? pad + l : l))
    .join('\n');
}
