// The swarm target: the stack runs on a Docker Swarm, reached through its
// manager, with the datastores' tasks reached through their nodes' engines
// (flows/swarm*.ts). The same verbs as the compose target; what a swarm cannot
// do is refused before anything runs (plan/target-support.ts).
import type { Stack } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { listSwarmBackups, readSwarmBackup } from '../flows/swarm-backup.js';
import { swarmBackupFlow, swarmDeploy, swarmDeployPlan, swarmHealthCheck, swarmLogs, swarmRollback, swarmStatus } from '../flows/swarm.js';
import { swarmStatusReport } from '../plan/swarm.js';
import { formatDuration } from '../util/units.js';
import type { Target, TargetContext } from './types.js';

export function swarmTarget(stack: Stack, ctx: TargetContext): Target {
  const { stateDir, commandLine } = ctx;
  return {
    kind: 'swarm',

    async deploy(run, o) {
      const flow = { stateDir, commandLine, skipBackup: o.skipBackup, allowDangerousMigrations: o.allowDangerousMigrations };
      if (o.dryRun) {
        const plan = await swarmDeployPlan(stack, run, flow);
        return { data: plan, notes: [{ tone: 'ok', text: `dry run of ${stack.project} version ${plan.version} on a ${plan.nodes}-node swarm: nothing was changed (run ${run.id})` }] };
      }
      const r = await swarmDeploy(stack, run, { ...flow, waitMs: o.waitMs, confirm: o.confirm });
      return { data: r, notes: [{ tone: 'ok', text: `deployed ${stack.project} version ${r.version} to a ${r.nodes}-node swarm in ${formatDuration(r.duration_ms)}; converged in ${formatDuration(r.converge_ms)} (run ${run.id})` }] };
    },

    async backup(run, o) {
      const m = await swarmBackupFlow(stack, run, { stateDir, commandLine, waitMs: o.waitMs, tag: o.tag });
      const notes: { tone: 'ok' | 'warn'; text: string }[] = [];
      if (stack.backup.offsite.length) notes.push({ tone: 'warn', text: `WARNING: backup.offsite is not applied to swarm backups yet: swarm backup ${m.id} stays on this host only` });
      notes.push({ tone: 'ok', text: `swarm backup ${m.id}: ${Object.keys(m.files).join(', ') || 'no data'} (postgres on ${m.nodes.postgres ?? '-'}, redis on ${m.nodes.redis ?? '-'})` });
      return { data: m, notes };
    },

    async rollback(run, o) {
      // without an id the compose target returns to the previous release and keeps the data; on swarm
      // a rollback always replaces the data, so it is never the default
      if (!o.id) throw new UsageError(`environment ${stack.env} (target swarm) rolls back to a backup only, data and release: give its id`, `see \`lifeops backups list --env ${stack.env}\``);
      const r = await swarmRollback(stack, run, { stateDir, commandLine, waitMs: o.waitMs, backup: o.id, confirm: o.confirm });
      return { data: r, notes: [{ tone: 'ok', text: `rolled ${stack.project} back to backup ${r.backup} (data and release, version ${r.version}); converged in ${formatDuration(r.converge_ms)}` }] };
    },

    backupsList() {
      const rows = listSwarmBackups(stateDir, stack.env).map((m) => ({ id: m.id, env: m.env, time: m.time, tag: m.tag, size: Object.values(m.files).reduce((n, f) => n + f.size, 0), target: 'swarm' as const }));
      return { data: rows, lines: rows.map((b) => `${b.id}  ${b.env.padEnd(11)} ${b.time}  ${String(b.size).padStart(12)} B  ${b.tag ?? ''}`), empty: `no swarm backups for ${stack.env}` };
    },

    backupShow: (id) => readSwarmBackup(stateDir, stack.env, id).manifest,

    async status() {
      const st = await swarmStatus(stack, ctx.newRun());
      const report = swarmStatusReport(st.facts, stack.status);
      const data = { project: st.project, env: report.env, level: report.level, summary: report.summary, target: 'swarm', nodes: st.nodes, services: st.services, checks: report.checks, limits: report.limits, release: st.release };
      const lines = [`${st.project} (swarm, ${st.nodes.length} nodes): ${report.level}${st.release ? `  release ${st.release.version} (${st.release.run_id})` : ''}`];
      for (const n of st.nodes) lines.push(`  node ${n.hostname.padEnd(14)} ${n.role.padEnd(8)} ${n.state.padEnd(6)} ${n.availability}`);
      for (const s of st.services) lines.push(`  ${s.service.padEnd(24)} ${s.replicas.padEnd(5)} ${s.state.padEnd(10)} ${s.image}  on ${s.tasks.map((t) => t.node).join(', ') || '-'}${s.detail ? `  (${s.detail})` : ''}`);
      for (const c of report.checks) if (!c.check.startsWith('node ')) lines.push(`  ${c.level.padEnd(8)} ${c.check}: ${c.message}`);
      return { report, data, text: lines.join('\n') + '\n' };
    },

    async healthCheck(o) {
      const attempts = Math.max(1, o.retries);
      const run = ctx.newRun();
      const health = () => swarmHealthCheck(stack, run);
      let wait = o.intervalMs;
      let r = await health();
      for (let attempt = 1; !r.ok && attempt < attempts; attempt++) {
        o.onRetry(attempt, 'CRITICAL', wait);
        await run.effects.sleep(wait);
        wait *= 2;
        r = await health();
      }
      return { ok: r.ok, data: r, text: `${stack.project}: ${r.ok ? 'OK' : 'CRITICAL'}${r.url ? ` (${r.url})` : ''}${r.problems.map((p) => `\n  ${p}`).join('')}\n` };
    },

    async logs(o) {
      o.out((await swarmLogs(stack, ctx.newRun(), o.service, o.tail ?? 200)) + '\n');
      return 0;
    },
  };
}
