// `lifeops plan`: what a deploy of this stack would run, reserve and change.
// Pure: takes the resolved stack, its rendered files and the last deployed
// render (read by the caller), returns the plan. Resources come from the
// rendered compose files (base + overrides), so the monitoring services count.
import { parse } from 'yaml';
import type { Stack } from '../config/schema.js';
import { composeFiles, type RenderedFile } from '../render/index.js';
import { parseSize } from '../util/units.js';

const MIB = 1024 * 1024;

export interface PlanService {
  service: string;
  role: string;
  /** from which compose file */
  file: string;
  replicas: number;
  /** per replica, MiB / CPUs; null when the file sets none */
  memory_limit_mib: number | null;
  memory_reservation_mib: number | null;
  cpus_limit: number | null;
  cpus_reservation: number | null;
  ports: string[];
}

export interface PlanTotals {
  memory_limit_mib: number;
  memory_reservation_mib: number;
  cpus_limit: number;
  cpus_reservation: number;
  /** services (replicas counted) without a memory / CPU limit */
  unlimited_memory: string[];
  unlimited_cpus: string[];
}

export interface PlanBudget {
  memory_mib: number;
  cpus: number;
  hard: boolean;
  memory_limit_share: number;
  memory_reservation_share: number;
  cpus_limit_share: number;
  cpus_reservation_share: number;
}

export interface FileChange {
  path: string;
  change: 'added' | 'removed' | 'modified';
  /** unified-ish diff lines ("-old", "+new", "@@ line N") */
  lines: string[];
}

export interface Plan {
  stack: string;
  env: string;
  project: string;
  services: PlanService[];
  totals: PlanTotals;
  budget?: PlanBudget;
  ports: { service: string; mapping: string }[];
  domains: { name: string; aliases: string[]; upstream: string; tls: boolean; basic_auth: boolean }[];
  /** null when nothing was deployed before (no previous render) */
  changes: FileChange[] | null;
  warnings: string[];
  errors: string[];
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

function num(v: unknown): number | null {
  if (v === undefined || v === null || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function mem(v: unknown): number | null {
  if (v === undefined || v === null || v === '') return null;
  try {
    return round(parseSize(String(v)) / MIB, 1);
  } catch {
    return null;
  }
}

interface ComposeService {
  deploy?: { replicas?: number; resources?: { limits?: { memory?: string; cpus?: string | number }; reservations?: { memory?: string; cpus?: string | number } } };
  mem_limit?: string;
  cpus?: string | number;
  ports?: (string | { published?: string | number; target?: number; host_ip?: string })[];
  labels?: Record<string, string> | string[];
}

function portText(p: NonNullable<ComposeService['ports']>[number]): string {
  if (typeof p === 'string') return p;
  return `${p.host_ip ? p.host_ip + ':' : ''}${p.published ?? ''}:${p.target ?? ''}`;
}

/** Line diff (LCS) in unified-ish form: context-free, one hunk marker per run of changes. */
export function diffLines(before: string, after: string, maxLines = 200): string[] {
  const a = before.split('\n');
  const b = after.split('\n');
  const n = a.length;
  const m = b.length;
  if (n * m > 4_000_000) return [`@@ file too large to diff (${n} -> ${m} lines)`];
  const dp: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  let inHunk = false;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      i++;
      j++;
      inHunk = false;
      continue;
    }
    if (!inHunk) {
      out.push(`@@ -${i + 1} +${j + 1} @@`);
      inHunk = true;
    }
    if (i < n && (j >= m || dp[i + 1][j] >= dp[i][j + 1])) out.push(`-${a[i++]}`);
    else out.push(`+${b[j++]}`);
  }
  return out.length > maxLines ? [...out.slice(0, maxLines), `... ${out.length - maxLines} more diff lines`] : out;
}

export function diffRenders(previous: RenderedFile[], next: RenderedFile[]): FileChange[] {
  const before = new Map(previous.map((f) => [f.path, f.content]));
  const after = new Map(next.map((f) => [f.path, f.content]));
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  const out: FileChange[] = [];
  for (const p of paths) {
    const a = before.get(p);
    const b = after.get(p);
    if (a === b) continue;
    if (a === undefined) out.push({ path: p, change: 'added', lines: diffLines('', b!) });
    else if (b === undefined) out.push({ path: p, change: 'removed', lines: diffLines(a, '') });
    else out.push({ path: p, change: 'modified', lines: diffLines(a, b) });
  }
  return out;
}

/** Build the plan. `previous` is the last deployed render (undefined/empty = never deployed). */
export function buildPlan(stack: Stack, files: RenderedFile[], previous?: RenderedFile[]): Plan {
  const services: PlanService[] = [];
  const byPath = new Map(files.map((f) => [f.path, f.content]));
  for (const file of composeFiles(files)) {
    const doc = (parse(byPath.get(file)!) ?? {}) as { services?: Record<string, ComposeService> };
    for (const [name, svc] of Object.entries(doc.services ?? {})) {
      if (services.some((s) => s.service === name)) continue;
      const lim = svc.deploy?.resources?.limits ?? {};
      const res = svc.deploy?.resources?.reservations ?? {};
      const labels = Array.isArray(svc.labels) ? {} : (svc.labels ?? {});
      const stackSvc = stack.services[name];
      services.push({
        service: name,
        role: stackSvc?.role ?? labels['lifeops.role'] ?? 'other',
        file,
        replicas: stackSvc?.replicas ?? num(svc.deploy?.replicas) ?? 1,
        memory_limit_mib: mem(lim.memory ?? svc.mem_limit),
        memory_reservation_mib: mem(res.memory),
        cpus_limit: num(lim.cpus ?? svc.cpus),
        cpus_reservation: num(res.cpus),
        ports: (svc.ports ?? []).map(portText),
      });
    }
  }

  const totals: PlanTotals = { memory_limit_mib: 0, memory_reservation_mib: 0, cpus_limit: 0, cpus_reservation: 0, unlimited_memory: [], unlimited_cpus: [] };
  for (const s of services) {
    const r = s.replicas;
    if (r === 0) continue;
    totals.memory_limit_mib += (s.memory_limit_mib ?? 0) * r;
    totals.memory_reservation_mib += (s.memory_reservation_mib ?? 0) * r;
    totals.cpus_limit += (s.cpus_limit ?? 0) * r;
    totals.cpus_reservation += (s.cpus_reservation ?? 0) * r;
    if (s.memory_limit_mib === null) totals.unlimited_memory.push(s.service);
    if (s.cpus_limit === null) totals.unlimited_cpus.push(s.service);
  }
  totals.memory_limit_mib = round(totals.memory_limit_mib, 1);
  totals.memory_reservation_mib = round(totals.memory_reservation_mib, 1);
  totals.cpus_limit = round(totals.cpus_limit);
  totals.cpus_reservation = round(totals.cpus_reservation);

  const warnings: string[] = [];
  const errors: string[] = [];
  let budget: PlanBudget | undefined;
  if (stack.budget) {
    const memory_mib = round(parseSize(stack.budget.memory) / MIB, 1);
    const cpus = stack.budget.cpus;
    budget = {
      memory_mib,
      cpus,
      hard: stack.budget.hard,
      memory_limit_share: round(totals.memory_limit_mib / memory_mib, 3),
      memory_reservation_share: round(totals.memory_reservation_mib / memory_mib, 3),
      cpus_limit_share: round(totals.cpus_limit / cpus, 3),
      cpus_reservation_share: round(totals.cpus_reservation / cpus, 3),
    };
    // Reservations over the budget cannot all be honoured: always an error.
    if (totals.memory_reservation_mib > memory_mib) errors.push(`memory reservations ${totals.memory_reservation_mib}M exceed the budget ${memory_mib}M`);
    if (totals.cpus_reservation > cpus) errors.push(`CPU reservations ${totals.cpus_reservation} exceed the budget ${cpus}`);
    const over = (what: string, total: number, cap: number, unit: string) => {
      const text = `${what} limits total ${total}${unit}, over the budget of ${cap}${unit} (${Math.round((total / cap) * 100)}%)`;
      if (stack.budget!.hard) errors.push(`${text}; the budget is hard`);
      else warnings.push(`${text}: oversubscribed`);
    };
    if (totals.memory_limit_mib > memory_mib) over('memory', totals.memory_limit_mib, memory_mib, 'M');
    if (totals.cpus_limit > cpus) over('CPU', totals.cpus_limit, cpus, '');
    if (totals.unlimited_memory.length) {
      const text = `no memory limit: ${totals.unlimited_memory.join(', ')} (not counted in the totals)`;
      if (stack.budget.hard) errors.push(`${text}; a hard budget needs a limit on every service`);
      else warnings.push(text);
    }
  }

  const ports = services.flatMap((s) => s.ports.map((mapping) => ({ service: s.service, mapping })));
  for (const p of ports) {
    const m = /^((\d{1,3}\.){3}\d{1,3}):/.exec(p.mapping);
    if (!m || m[1] !== '127.0.0.1') {
      if (!/^\d+$/.test(p.mapping)) warnings.push(`${p.service} publishes ${p.mapping} on ${m ? m[1] : 'every interface'}`);
    }
  }
  const front = stack.front;
  const domains = (front?.domains ?? []).map((d) => ({
    name: d.name,
    aliases: d.aliases,
    upstream: d.upstream,
    tls: d.tls ?? front!.tls.enabled,
    basic_auth: d.basic_auth,
  }));

  const changes = previous && previous.length ? diffRenders(previous, files) : null;
  return { stack: stack.name, env: stack.env, project: stack.project, services, totals, budget, ports, domains, changes, warnings, errors };
}

const pct = (x: number) => `${Math.round(x * 100)}%`;
const fmt = (v: number | null, unit = '') => (v === null ? '-' : `${v}${unit}`);

/** Human-readable plan, one string per line. */
export function formatPlan(plan: Plan, opts: { diff?: boolean } = {}): string[] {
  const out: string[] = [];
  out.push(`plan for ${plan.project}`);
  const head = ['SERVICE', 'ROLE', 'REPL', 'MEM LIMIT', 'MEM RESV', 'CPU LIMIT', 'CPU RESV'];
  const rows = plan.services.map((s) => [s.service, s.role, String(s.replicas), fmt(s.memory_limit_mib, 'M'), fmt(s.memory_reservation_mib, 'M'), fmt(s.cpus_limit), fmt(s.cpus_reservation)]);
  const t = plan.totals;
  const total = ['TOTAL', '', '', `${t.memory_limit_mib}M`, `${t.memory_reservation_mib}M`, String(t.cpus_limit), String(t.cpus_reservation)];
  const all = [head, ...rows, total];
  if (plan.budget) {
    const b = plan.budget;
    all.push([`BUDGET${b.hard ? ' (hard)' : ''}`, '', '', `${b.memory_mib}M`, '', String(b.cpus), '']);
    all.push(['SHARE', '', '', pct(b.memory_limit_share), pct(b.memory_reservation_share), pct(b.cpus_limit_share), pct(b.cpus_reservation_share)]);
  }
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  for (const r of all) out.push(r.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd());
  out.push('');
  out.push(plan.ports.length ? `published ports: ${plan.ports.map((p) => `${p.service} ${p.mapping}`).join(', ')}` : 'published ports: none');
  if (plan.domains.length) out.push(`domains: ${plan.domains.map((d) => `${d.name}${d.aliases.length ? ` (+${d.aliases.join(', ')})` : ''} -> ${d.upstream}${d.tls ? ' [tls]' : ''}${d.basic_auth ? ' [basic auth]' : ''}`).join('; ')}`);
  if (plan.changes === null) out.push('changes: nothing deployed yet (no previous render)');
  else if (plan.changes.length === 0) out.push('changes: none against the last deployed render');
  else {
    out.push(`changes against the last deployed render: ${plan.changes.length} file(s)`);
    for (const c of plan.changes) {
      out.push(`  ${c.change} ${c.path}`);
      if (opts.diff !== false) for (const l of c.lines) out.push(`    ${l}`);
    }
  }
  for (const w of plan.warnings) out.push(`warning: ${w}`);
  for (const e of plan.errors) out.push(`error: ${e}`);
  return out;
}
