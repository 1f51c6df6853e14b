// The compose target: the stack runs on the Docker engine of this host
// through docker compose (v1 or v2). Each verb is one flow of src/flows.
import path from 'node:path';
import chalk from 'chalk';
import type { Stack } from '../config/schema.js';
import { deploy } from '../flows/deploy.js';
import { backupFlow } from '../flows/backup.js';
import { rollback } from '../flows/rollback.js';
import { backupPlaces } from '../flows/offsite.js';
import { checkHealth, type HealthReport } from '../flows/health.js';
import { streamComposeLogs } from '../flows/logs.js';
import { StatusSession } from '../flows/status.js';
import { redactorFor } from '../flows/context.js';
import { backupDir, listBackups, loadBackup } from '../backup/catalog.js';
import { isPlaceholderImage, type Level, type StatusReport } from '../plan/status.js';
import { formatDuration, formatMiB } from '../util/units.js';
import type { Target, TargetContext } from './types.js';

const human = (n: number) => (n < 1024 * 1024 ? `${n} B` : formatMiB(n));
const color = (l: Level) => (l === 'OK' ? chalk.green(l) : l === 'WARNING' ? chalk.yellow(l) : chalk.red(l));

function serviceLine(s: { level: Level; service: string; state: string; health: string; uptime_s?: number; restarts: number; image?: string; message?: string }, placeholder: boolean): string {
  return `  ${color(s.level).padEnd(8)} ${s.service.padEnd(16)} ${s.state.padEnd(9)} health=${s.health.padEnd(9)} up=${s.uptime_s !== undefined ? formatDuration(s.uptime_s * 1000) : '-'} restarts=${s.restarts} ${s.image ?? ''}${placeholder ? '  [PLACEHOLDER]' : ''}${s.level !== 'OK' ? `  (${s.message})` : ''}`;
}

function statusText(r: StatusReport): string {
  const lines = [`${r.project}: ${color(r.level)}`];
  for (const s of r.services) lines.push(serviceLine(s, Boolean(s.placeholder)));
  for (const c of r.checks) lines.push(`  ${color(c.level).padEnd(8)} ${c.check.padEnd(30)} ${c.message} (${c.duration_ms}ms)`);
  return lines.join('\n') + '\n';
}

function healthText(project: string, r: HealthReport): string {
  const lines = [`${project}: ${color(r.level)}`];
  for (const s of r.services) lines.push(serviceLine(s, isPlaceholderImage(s.image)));
  for (const c of r.checks) lines.push(`  ${color(c.level).padEnd(8)} ${c.check.padEnd(30)} ${c.message} (${c.duration_ms}ms)`);
  return lines.join('\n') + '\n';
}

export function composeTarget(stack: Stack, ctx: TargetContext): Target {
  const { stateDir, commandLine } = ctx;
  return {
    kind: 'compose',

    async deploy(run, o) {
      const r = await deploy(stack, run, { stateDir, commandLine, build: o.build, dryRun: o.dryRun, allowDangerousMigrations: o.allowDangerousMigrations, skipBackup: o.skipBackup, maintenance: o.maintenance, waitMs: o.waitMs, confirm: o.confirm });
      const text = o.dryRun ? `dry run of ${stack.project} version ${r.version}: nothing was changed (run ${run.id})` : `deployed ${stack.project} version ${r.version} in ${formatDuration(r.duration_ms)} (run ${run.id})`;
      return { data: r, notes: [{ tone: 'ok', text }] };
    },

    async backup(run, o) {
      const { manifest: m, deleted, offsite, wal } = await backupFlow(stack, run, { stateDir, tag: o.tag, commandLine, waitMs: o.waitMs });
      const dir = path.join(backupDir(stack, stateDir), m.id);
      const notes: { tone: 'ok' | 'warn'; text: string }[] = [{ tone: 'ok', text: `backup ${m.id} written to ${dir} (${human(m.size)}, ${m.files.length} files)${deleted.length ? `; retention deleted ${deleted.join(', ')}` : ''}` }];
      for (const c of offsite) {
        if (c.failed) notes.push({ tone: 'warn', text: `off-site ${c.repo}: NOT copied (${c.failed}); retried on the next backup` });
        else if (c.copied.length || c.adopted.length) notes.push({ tone: 'ok', text: `off-site ${c.repo}: copied ${[...c.adopted, ...c.copied].join(', ')}${c.forgotten.length ? `; retention removed ${c.forgotten.join(', ')}` : ''}` });
      }
      for (const w of wal ?? []) notes.push(w.failed ? { tone: 'warn', text: `WAL archive to ${w.repo}: NOT pushed (${w.failed}); retried on the next push` } : { tone: 'ok', text: `WAL archive to ${w.repo}: pushed up to ${w.newest_segment ?? 'nothing yet'}${w.reachable_until ? ` (last commit ${w.reachable_until})` : ''}` });
      return { data: { id: m.id, env: m.env, time: m.time, tag: m.tag, size: m.size, dir, files: m.files.length, deleted, offsite, ...(wal ? { wal } : {}) }, notes };
    },

    async rollback(run, o) {
      const r = await rollback(stack, run, { stateDir, id: o.id, release: o.id ? undefined : (o.release ?? 'previous'), commandLine, waitMs: o.waitMs, maintenance: o.maintenance, confirm: o.confirm });
      return { data: r, notes: [{ tone: 'ok', text: `rolled ${stack.project} back to backup ${r.backup}${r.data ? ' (data and release)' : ' (release only)'}${r.safety_backup ? `; the state before is in backup ${r.safety_backup}` : ''}` }] };
    },

    backupsList() {
      const list = listBackups(backupDir(stack, stateDir), stack.project, stack.env);
      // where each copy lives: this host's backup folder and the off-site repositories (a copy can outlive its local folder)
      const places = backupPlaces(stack, stateDir, list.map((b) => b.id));
      const rows = places.map((p) => ({ ...(list.find((b) => b.id === p.id) ?? { id: p.id, env: stack.env }), local: p.local, offsite: p.offsite }));
      const lines = rows.map((b) => {
        const where = [...(b.local ? ['local'] : []), ...b.offsite.map((c) => c.repo)].join(',');
        const s = 'size' in b ? b : undefined;
        return `${b.id}  ${b.env.padEnd(11)} ${s?.time ?? '(off-site only)'.padEnd(24)}  ${s ? human(s.size).padStart(9) : ''.padStart(9)}  ${s?.verified ? 'verified' : '        '}  ${where.padEnd(16)}  ${s?.tag ?? ''}`.trimEnd();
      });
      return { data: rows, lines, empty: `no backups for ${stack.env} in ${backupDir(stack, stateDir)}` };
    },

    backupShow: (id) => loadBackup(stack, stateDir, id).manifest,

    async status(session) {
      const own = session ? undefined : new StatusSession(ctx.io);
      try {
        const report = await (session ?? own!).gather(stack, stateDir);
        const data = { project: report.project, env: report.env, level: report.level, summary: report.summary, services: report.services, checks: report.checks, limits: report.limits, facts: report.facts };
        return { report, data, text: statusText(report) };
      } finally {
        own?.close();
      }
    },

    async healthCheck(o) {
      const report = await checkHealth(stack, ctx.newRun().effects, { now: () => ctx.io.now(), retries: o.retries, intervalMs: o.intervalMs, onRetry: o.onRetry });
      return { ok: report.level === 'OK', data: { project: stack.project, level: report.level, services: report.services, checks: report.checks }, text: redactorFor(stack).text(healthText(stack.project, report)) };
    },

    logs: (o) => streamComposeLogs(stack, ctx.newRun(), { service: o.service, follow: o.follow, tail: o.tail }, o.out, o.err),
  };
}
