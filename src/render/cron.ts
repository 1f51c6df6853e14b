// The cron lines for a stack (the backup schedule and a status check every
// minute) and the merge of that marked block into an existing crontab. Pure.
import path from 'node:path';
import type { Stack } from '../config/schema.js';

/** The crontab block for a stack: the backup schedule and a status check every minute. */
export function cronLines(stack: Stack, o: { node: string; bin: string; stateDir: string; env: string }): string[] {
  const q = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const base = `${q(o.node)} ${q(o.bin)} -f ${q(stack.file)} --state-dir ${q(o.stateDir)}`;
  const log = q(path.join(o.stateDir, 'logs', 'cron.log'));
  return [
    `# >>> lifeops ${stack.project} >>>`,
    `${stack.backup.schedule} ${base} backup --env ${o.env} >> ${log} 2>&1`,
    `* * * * * ${base} status --quiet --env ${o.env} >> ${log} 2>&1`,
    `# <<< lifeops ${stack.project} <<<`,
  ];
}

/** Replace (or append) the marked block in a crontab text. */
export function mergeCrontab(current: string, block: string[]): string {
  const start = block[0];
  const end = block[block.length - 1];
  const lines = current.split('\n').filter((l, i, a) => !(i === a.length - 1 && l === ''));
  const out: string[] = [];
  let skipping = false;
  for (const l of lines) {
    if (l === start) skipping = true;
    if (!skipping) out.push(l);
    if (l === end) skipping = false;
  }
  return [...out, ...block].join('\n') + '\n';
}
