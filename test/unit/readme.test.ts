// README.md is the newcomer's short path and docs/ holds the rest: the README
// stays within 150 lines, the test command it gives is the one CI runs
// (.ci/run) and a Makefile target, and every docs/ page it links exists. Every
// docs/ page is linked from the README, its own relative links resolve, and it
// stays short enough to read in one sitting.
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';

const read = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');
const README = read('README.md');
const lines = (text: string) => text.replace(/\n$/, '').split('\n');

/** Markdown link targets `](target)`, without a #fragment; external URLs left out. */
function linkTargets(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1].split('#')[0]).filter((t) => t && !/^[a-z]+:/i.test(t));
}

/** Lines inside fenced code blocks. */
function codeLines(text: string): string[] {
  const out: string[] = [];
  let inside = false;
  for (const l of lines(text)) {
    if (/^\s*```/.test(l)) inside = !inside;
    else if (inside) out.push(l.trim());
  }
  return out;
}

describe('README.md and docs/', () => {
  it('README.md has at most 150 lines', () => {
    expect(lines(README).length).toBeLessThanOrEqual(150);
  });

  it("the README's test command is what .ci/run runs, and a Makefile target", () => {
    const ci = lines(read('.ci/run')).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const makeCalls = ci.filter((l) => /^make\b/.test(l));
    expect(makeCalls, '.ci/run should call make exactly once').toHaveLength(1);
    const command = makeCalls[0];
    expect(command).toBe('make test');
    // the README gives it as a command of its own in a code block, not as part of a longer one
    const given = codeLines(README).filter((l) => l === command || l.startsWith(`${command} `));
    expect(given.map((l) => l.replace(/\s+#.*$/, '')), `README.md should show \`${command}\` in a code block`).toContain(command);
    const target = command.split(/\s+/)[1];
    expect(read('Makefile')).toMatch(new RegExp(`^${target}:`, 'm'));
  });

  it('every docs/ link in the README points to an existing file', () => {
    const docsLinks = linkTargets(README).filter((t) => t.startsWith('docs/'));
    expect(docsLinks.length).toBeGreaterThan(0);
    const missing = docsLinks.filter((t) => !existsSync(path.join(ROOT, t)));
    expect(missing).toEqual([]);
  });

  it('every docs/ page is linked from the README, its relative links resolve, and it is short', () => {
    const pages = readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md'));
    expect(pages.length).toBeGreaterThan(0);
    const linked = new Set(linkTargets(README));
    for (const page of pages) {
      expect(linked.has(`docs/${page}`), `docs/${page} is not linked from README.md`).toBe(true);
      const text = read(path.join('docs', page));
      const broken = linkTargets(text).filter((t) => !existsSync(path.resolve(ROOT, 'docs', t)));
      expect(broken, `broken links in docs/${page}`).toEqual([]);
      expect(lines(text).length, `docs/${page} is long`).toBeLessThanOrEqual(200);
    }
  });
});
