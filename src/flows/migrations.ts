// Migration safety: which migration files are new since the last successful
// deploy (names + sha256 kept in <state-dir>/migrations/<env>.json), a scan of
// those for dangerous patterns, and the Alembic single-head rule (pure apart
// from reading the files). The deploy flow runs the migration command itself;
// the schema fingerprint taken before and after it (the one part here that
// talks to Postgres) tells whether the database actually changed.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { Stack } from '../config/schema.js';
import { OperationError } from '../errors.js';
import type { DockerClient } from '../clients/docker.js';
import { replacePrivate } from '../util/private-files.js';
import { postgresQuery } from '../clients/datastores.js';
import type { Run } from './context.js';

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

import { migrationRecordFile } from '../state/paths.js';

export function readMigrationRecord(stateDir: string, env: string): MigrationRecord | undefined {
  try {
    return (JSON.parse(readFileSync(migrationRecordFile(stateDir, env), 'utf8')) as { files: MigrationRecord }).files;
  } catch {
    return undefined;
  }
}

/** Written after a successful deploy only. */
export function writeMigrationRecord(stateDir: string, env: string, files: MigrationFile[], runId: string): void {
  const p = migrationRecordFile(stateDir, env);
  replacePrivate(p, JSON.stringify({ run_id: runId, files: Object.fromEntries(files.map((f) => [f.name, f.sha256])) }, null, 2) + '\n');
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

// ---- did the migration change the database?

/** Tables where migration tools record what they applied (demo/app/migrate.py uses schema_migrations). */
export const VERSION_TABLES = ['alembic_version', 'django_migrations', 'schema_migrations', 'flyway_schema_history'] as const;

const versionTableList = VERSION_TABLES.map((t) => `'${t}'`).join(', ');

/**
 * One row, one column: JSON {parts: {part: md5}, version_tables: [...]}. Each
 * part is an md5 over the sorted catalog items of the user schemas (not
 * pg_*, not information_schema). Sequence positions and table rows are left
 * out so the old release writing data meanwhile changes nothing; the rows of
 * the version tables are in, so a data-only migration still shows.
 */
export const FINGERPRINT_SQL = `
WITH ns AS (
  SELECT oid, nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'
), rel AS (
  SELECT c.oid, c.relkind, c.relname, format('%I.%I', ns.nspname, c.relname) AS qname
  FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
), item(part, txt) AS (
  SELECT 'schemas', nspname::text FROM ns
  UNION ALL SELECT 'relations', format('%s %s', relkind, qname) FROM rel
  UNION ALL SELECT 'columns', format('%s.%I %s%s%s', r.qname, a.attname, format_type(a.atttypid, a.atttypmod),
      CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''))
    FROM pg_attribute a JOIN rel r ON r.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL SELECT 'indexes', pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN rel r ON r.oid = i.indrelid
  UNION ALL SELECT 'constraints', format('%s %I %s', r.qname, k.conname, pg_get_constraintdef(k.oid))
    FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid
  UNION ALL SELECT 'sequences', format('%s %s %s %s %s %s %s', r.qname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle)
    FROM pg_sequence s JOIN rel r ON r.oid = s.seqrelid
  UNION ALL SELECT 'views', r.qname || ' ' || pg_get_viewdef(r.oid) FROM rel r WHERE r.relkind IN ('v', 'm')
  UNION ALL SELECT 'functions', format('%I.%I(%s) %s %s', ns.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
      coalesce(pg_get_function_result(p.oid), ''), md5(CASE WHEN p.prokind = 'a' THEN coalesce(p.prosrc, '') ELSE pg_get_functiondef(p.oid) END))
    FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
  UNION ALL SELECT 'triggers', pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
  UNION ALL SELECT 'types', format('%I.%I %s %s', ns.nspname, t.typname, t.typtype,
      coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), format_type(t.typbasetype, t.typtypmod)))
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace WHERE t.typtype IN ('e', 'd', 'r', 'm')
  UNION ALL SELECT 'extensions', extname || ' ' || extversion FROM pg_extension
  UNION ALL SELECT 'versions', r.qname || ' ' || md5(query_to_xml(format('SELECT * FROM %s t ORDER BY t::text', r.qname), false, false, '')::text)
    FROM rel r WHERE r.relkind IN ('r', 'p') AND r.relname IN (${versionTableList})
)
SELECT json_build_object(
  'parts', coalesce((SELECT json_object_agg(part, h) FROM (SELECT part, md5(string_agg(txt, E'\\n' ORDER BY txt)) AS h FROM item GROUP BY part) g), '{}'::json),
  'version_tables', coalesce((SELECT json_agg(qname ORDER BY qname) FROM rel WHERE relkind IN ('r', 'p') AND relname IN (${versionTableList})), '[]'::json)
)::text AS fingerprint`;

export interface DatabaseFingerprint {
  /** part (columns, indexes, versions ...) -> md5 of its sorted items */
  parts: Record<string, string>;
  /** version tables found, schema-qualified */
  version_tables: string[];
}

export interface SchemaFingerprint {
  /** md5 over every database's parts */
  hash: string;
  databases: Record<string, DatabaseFingerprint>;
  /** how it was taken: 127.0.0.1:<port> or docker exec psql */
  via: string;
}

/** Parse the query's JSON (from pg, or the last JSON line psql printed); throws on anything else. */
export function parseFingerprint(text: string): DatabaseFingerprint {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('{'))
    .pop();
  if (!line) throw new Error(`no fingerprint in the output: ${text.trim().slice(0, 200) || '(empty)'}`);
  const v = JSON.parse(line) as Partial<DatabaseFingerprint>;
  const partsOk = v.parts && typeof v.parts === 'object' && Object.values(v.parts).every((h) => typeof h === 'string' && /^[0-9a-f]{32}$/.test(h));
  if (!partsOk || !Array.isArray(v.version_tables)) throw new Error('the fingerprint query answered an unexpected shape');
  return { parts: v.parts!, version_tables: v.version_tables.map(String) };
}

/** Order-independent digest of several databases' parts. */
export function combineFingerprints(databases: Record<string, DatabaseFingerprint>, via: string): SchemaFingerprint {
  const lines = Object.entries(databases).flatMap(([db, f]) => Object.entries(f.parts).map(([part, h]) => `${db}/${part}=${h}`));
  return { hash: createHash('md5').update(lines.sort().join('\n')).digest('hex'), databases, via };
}

/** "db/part" names whose digest differs (appeared, vanished or changed). */
export function changedParts(before: SchemaFingerprint, after: SchemaFingerprint): string[] {
  const out = new Set<string>();
  for (const db of new Set([...Object.keys(before.databases), ...Object.keys(after.databases)])) {
    const b = before.databases[db]?.parts ?? {};
    const a = after.databases[db]?.parts ?? {};
    for (const part of new Set([...Object.keys(b), ...Object.keys(a)])) if (b[part] !== a[part]) out.add(`${db}/${part}`);
  }
  return [...out].sort();
}

/** A fingerprint, or why none could be taken. */
export type FingerprintResult = SchemaFingerprint | { error: string };

export interface MigrationEffect {
  /** what the ledger records as migrations_ran: true unless shown unchanged */
  changed: boolean;
  reason: string;
  before?: string;
  after?: string;
  parts: string[];
}

const short = (h: string) => h.slice(0, 12);

/**
 * Pure: did the migration run change the database? Unknown counts as changed,
 * because the cost of a wrong "no" is a rollback that leaves a migrated
 * database under the previous release.
 */
export function migrationEffect(before: FingerprintResult, after: FingerprintResult, freshFiles: number): MigrationEffect {
  if ('error' in before || 'error' in after) {
    const why = 'error' in before ? `before: ${before.error}` : `after: ${(after as { error: string }).error}`;
    return { changed: true, reason: `could not tell whether the database changed (no schema fingerprint ${why}): counted as changed`, parts: [] };
  }
  const hashes = { before: before.hash, after: after.hash };
  if (before.hash !== after.hash) {
    const parts = changedParts(before, after);
    return { changed: true, reason: `the database changed (schema fingerprint ${short(before.hash)} -> ${short(after.hash)}: ${parts.join(', ')})`, parts, ...hashes };
  }
  const tracked = Object.values(after.databases).some((d) => d.version_tables.length > 0);
  if (freshFiles > 0 && !tracked) {
    return {
      changed: true,
      reason: `schema fingerprint unchanged (${short(after.hash)}), but ${freshFiles} new migration file${freshFiles === 1 ? '' : 's'} and no version table (${VERSION_TABLES.join(', ')}) to show a data-only migration: counted as changed`,
      parts: [],
      ...hashes,
    };
  }
  return { changed: false, reason: `the database did not change (schema fingerprint ${short(after.hash)} before and after): a rollback will not restore it`, parts: [], ...hashes };
}

/** Through the published 127.0.0.1 port with pg, else `docker exec psql` in the db container. */
export async function schemaFingerprint(stack: Stack, docker: DockerClient): Promise<SchemaFingerprint> {
  const pg = stack.postgres;
  if (!pg) throw new Error('the stack has no postgres section');
  if (pg.external_url) throw new Error('postgres is external (postgres.external_url)');
  const c = (await docker.projectContainers(stack.project)).find((x) => x.service === pg.service && x.state === 'running');
  if (!c) throw new Error(`service ${pg.service} is not running`);
  const dbs = [...new Set([pg.database, ...pg.databases])];
  const port = c.ports[5432];
  let portError = '';
  if (port) {
    try {
      const out: Record<string, DatabaseFingerprint> = {};
      for (const db of dbs) {
        const rows = await postgresQuery<{ fingerprint: string }>({ host: '127.0.0.1', port, user: pg.user, password: pg.password, database: db, timeoutMs: 15_000 }, FINGERPRINT_SQL);
        out[db] = parseFingerprint(rows[0]?.fingerprint ?? '');
      }
      return combineFingerprints(out, `127.0.0.1:${port}`);
    } catch (e) {
      portError = `127.0.0.1:${port}: ${(e as Error).message}; `; // e.g. pg_hba refuses the host: psql inside uses the socket
    }
  }
  try {
    const out: Record<string, DatabaseFingerprint> = {};
    for (const db of dbs) {
      const r = await docker.exec(c.id, ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', pg.user, '-d', db, '-c', FINGERPRINT_SQL], 30_000);
      if (r.exitCode !== 0) throw new Error(`psql exit ${r.exitCode}: ${r.output.trim().split('\n').pop() ?? ''}`);
      out[db] = parseFingerprint(r.output);
    }
    return combineFingerprints(out, 'docker exec psql');
  } catch (e) {
    throw new Error(`${portError}docker exec psql: ${(e as Error).message}`);
  }
}

/** A logged step that never fails the deploy: a missing fingerprint only means "counted as changed". */
export async function fingerprintStep(stack: Stack, run: Run, docker: DockerClient, when: 'before' | 'after'): Promise<FingerprintResult> {
  return run.step(`migrations: schema fingerprint ${when}`, async () => {
    try {
      const f = await schemaFingerprint(stack, docker);
      run.info('migrations', { fingerprint: when, hash: f.hash, via: f.via, databases: f.databases });
      return f;
    } catch (e) {
      const error = run.redactor.text((e as Error).message.split('\n')[0]).slice(0, 300);
      run.info('migrations', { fingerprint: when, error });
      return { error };
    }
  });
}
