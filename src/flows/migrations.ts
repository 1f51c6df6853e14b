// Migration safety: which migration files are new since the last successful
// deploy (names + sha256 kept in <state-dir>/migrations/<env>.json), a scan of
// those for dangerous patterns, and the Alembic single-head rule. Pure apart
// from reading the files; the deploy flow runs the migration command itself.
import { readdirSync, readFileSync, statSync, existsSync, mkdirSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';

export interface MigrationFile {
  /** path relative to the migrations folder, "/"-separated */
  name: string;
  sha256: string;
  text: string;
}

export interface DangerHit {
  file: string;
  line: number;
  pattern: string;
  text: string;
}

export function migrationsDir(stack: Stack): string | undefined {
  return stack.migrations ? path.resolve(stack.baseDir, stack.migrations.path) : undefined;
}

const SKIP_DIRS = new Set(['__pycache__', 'node_modules', '.git']);

/** Every file under the migrations folder (recursive, sorted); a missing folder is an error naming it. */
export function listMigrationFiles(dir: string): MigrationFile[] {
  if (!existsSync(dir)) throw new OperationError(`migrations.path ${dir} does not exist`, 'fix migrations.path in the stack file (it is relative to the stack file)');
  const out: MigrationFile[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${entry}` : entry;
      const abs = path.join(dir, r);
      if (statSync(abs).isDirectory()) {
        if (!SKIP_DIRS.has(entry)) walk(r);
        continue;
      }
      if (/\.(pyc|pyo)$/.test(entry)) continue;
      const text = readFileSync(abs, 'utf8');
      out.push({ name: r, sha256: createHash('sha256').update(text).digest('hex'), text });
    }
  };
  walk('');
  return out;
}

export type MigrationRecord = Record<string, string>;

export const migrationStatePath = (stateDir: string, env: string) => path.join(stateDir, 'migrations', `${env}.json`);

export function readMigrationRecord(stateDir: string, env: string): MigrationRecord | undefined {
  try {
    return (JSON.parse(readFileSync(migrationStatePath(stateDir, env), 'utf8')) as { files: MigrationRecord }).files;
  } catch {
    return undefined;
  }
}

/** Written after a successful deploy only. */
export function writeMigrationRecord(stateDir: string, env: string, files: MigrationFile[], runId: string): void {
  const p = migrationStatePath(stateDir, env);
  mkdirSync(path.dirname(p), { recursive: true });
  const tmp = `${p}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ run_id: runId, files: Object.fromEntries(files.map((f) => [f.name, f.sha256])) }, null, 2) + '\n');
  renameSync(tmp, p);
}

/** Files that are new, or changed, since the recorded set (all of them when nothing is recorded). */
export function newMigrations(files: MigrationFile[], recorded: MigrationRecord | undefined): MigrationFile[] {
  if (!recorded) return files;
  return files.filter((f) => recorded[f.name] !== f.sha256);
}

/** Case-insensitive substring scan, one hit per file, line and pattern. */
export function scanDangerous(files: MigrationFile[], patterns: string[]): DangerHit[] {
  const hits: DangerHit[] = [];
  const pats = patterns.filter(Boolean).map((p) => [p, p.toLowerCase()] as const);
  for (const f of files) {
    const lines = f.text.split('\n');
    lines.forEach((line, i) => {
      const low = line.toLowerCase();
      for (const [p, lp] of pats) if (low.includes(lp)) hits.push({ file: f.name, line: i + 1, pattern: p, text: line.trim().slice(0, 120) });
    });
  }
  return hits;
}

export function dangerError(dir: string, hits: DangerHit[]): OperationError {
  const shown = hits.slice(0, 20).map((h) => `  ${path.join(dir, h.file)}:${h.line}: "${h.pattern}" in: ${h.text}`);
  if (hits.length > 20) shown.push(`  ... and ${hits.length - 20} more`);
  return new OperationError(
    `refusing to deploy: ${hits.length} dangerous pattern${hits.length > 1 ? 's' : ''} in new migrations (data may be lost; take care that the old version still running during the rollout copes):\n${shown.join('\n')}`,
    'review them, then re-run with --allow-dangerous-migrations (a backup is taken before migrations run unless --skip-backup)',
  );
}

export interface AlembicRevision {
  file: string;
  revision: string;
  down: string[];
}

const quoted = /['"]([^'"]+)['"]/g;

/** Parse `revision = '...'` and `down_revision = None | '...' | ('a', 'b')` from one Alembic script. */
export function parseAlembic(file: string, text: string): AlembicRevision | undefined {
  const rev = /^\s*revision\s*(?::\s*[^=]+)?=\s*['"]([^'"]+)['"]/m.exec(text);
  if (!rev) return undefined;
  const downLine = /^\s*down_revision\s*(?::\s*[^=]+)?=\s*(.+)$/m.exec(text);
  const down: string[] = [];
  if (downLine && !/^None\b/.test(downLine[1].trim())) {
    for (const m of downLine[1].matchAll(quoted)) down.push(m[1]);
  }
  return { file, revision: rev[1], down };
}

/** Heads: revisions no other revision names as its down_revision. */
export function alembicHeads(revs: AlembicRevision[]): AlembicRevision[] {
  const referenced = new Set(revs.flatMap((r) => r.down));
  return revs.filter((r) => !referenced.has(r.revision));
}

/** Alembic scripts live in <path>/versions/*.py (or directly in <path>). */
export function alembicRevisions(files: MigrationFile[]): AlembicRevision[] {
  const inVersions = files.filter((f) => /(^|\/)versions\/[^/]+\.py$/.test(f.name));
  const candidates = inVersions.length ? inVersions : files.filter((f) => f.name.endsWith('.py'));
  return candidates.flatMap((f) => parseAlembic(f.name, f.text) ?? []);
}

export function checkAlembicHeads(dir: string, files: MigrationFile[]): void {
  const heads = alembicHeads(alembicRevisions(files));
  if (heads.length > 1) {
    throw new OperationError(
      `refusing to deploy: Alembic has ${heads.length} heads (${heads.map((h) => `${h.revision} in ${path.join(dir, h.file)}`).join(', ')}); \`alembic upgrade head\` would fail`,
      'merge them first: alembic merge -m "merge heads" heads, then commit the new revision',
    );
  }
}

export interface MigrationPlan {
  dir: string;
  files: MigrationFile[];
  fresh: MigrationFile[];
  hits: DangerHit[];
}

/** Everything the pre-flight needs: refuses dangerous patterns (unless allowed) and several Alembic heads. */
export function checkMigrations(stack: Stack, stateDir: string, opts: { allowDangerous?: boolean }): MigrationPlan | undefined {
  const m = stack.migrations;
  const dir = migrationsDir(stack);
  if (!m || !dir) return undefined;
  const files = listMigrationFiles(dir);
  const fresh = newMigrations(files, readMigrationRecord(stateDir, stack.env));
  const hits = scanDangerous(fresh, m.dangerous_patterns);
  if (hits.length && !opts.allowDangerous) throw dangerError(dir, hits);
  if (m.alembic) checkAlembicHeads(dir, files);
  return { dir, files, fresh, hits };
}

export function migrationCommand(stack: Stack): string[] {
  const c = stack.migrations!.command;
  return Array.isArray(c) ? c : ['sh', '-c', c];
}
