// Point-in-time recovery on real containers: the demo stack (own project
// "pitr", port 18463) with backup.pitr on archives WAL into its volume; a
// backup takes a base backup; row A, an instant, row B, then
// `rollback --to` that instant leaves exactly A. A time outside the range
// exits 2 naming it; a segment missing from the archive is a gap that
// `backups verify` and `status` report; a recovery that fails (a damaged
// segment) is undone and the database is as it was before.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { lifeops, demoCopy, at, demoProject } from '../helpers.js';

const stack = demoCopy('pitr', 18463, (d) => {
  at(d, 'backup').pitr = { enabled: true, archive_timeout: '10s' };
});
const base = ['-f', stack.file, '--state-dir', stack.stateDir];
const cli = (args: string[]) => lifeops([...base, ...args], { timeoutMs: 300_000 });
const { sql, container } = demoProject('pitr-local');
const ARCHIVE = '/var/lib/postgresql/wal-archive';
const dbExec = async (...cmd: string[]) => (await execa('docker', ['exec', await container('db'), ...cmd])).stdout.trim();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** close the segment in use and wait until the archive holds it */
async function archived(): Promise<string> {
  const seg = await sql('SELECT pg_walfile_name(pg_switch_wal())');
  for (let i = 0; i < 100; i++) {
    if ((await dbExec('ls', ARCHIVE)).split('\n').includes(seg)) return seg;
    await sleep(200);
  }
  throw new Error(`segment ${seg} was not archived`);
}
const rows = () => sql('SELECT string_agg(v, \',\' ORDER BY id) FROM marks');

let baseId = '';

beforeAll(async () => {
  await cli(['down', '--volumes', '--yes', '--skip-backup']);
  const d = await cli(['deploy', 'local']);
  if (d.exitCode !== 0) throw new Error(`deploy failed:\n${d.stderr}`);
  await sql('CREATE TABLE marks(id serial PRIMARY KEY, v text, at timestamptz DEFAULT clock_timestamp())');
  const b = await cli(['backup', '--json']);
  if (b.exitCode !== 0) throw new Error(`backup failed:\n${b.stderr}`);
  baseId = JSON.parse(b.stdout).id;
}, 300_000);

afterAll(async () => {
  await cli(['down', '--volumes', '--yes', '--skip-backup']);
}, 120_000);

describe('point-in-time recovery on the demo stack', () => {
  it('archives WAL with the official image unchanged, and the backup holds a base backup', async () => {
    const compose = (await execa('docker', ['inspect', '-f', '{{.Config.Image}}', await container('db')])).stdout;
    expect(compose).toBe('lifeops/postgres:15');
    expect(await sql('SHOW archive_mode')).toBe('on');
    const listing = await dbExec('stat', '-c', '%U %a', ARCHIVE);
    expect(listing).toBe('postgres 700');
    const show = JSON.parse((await cli(['backups', 'show', baseId])).stdout);
    expect(show.contents.postgres.base_backup).toEqual({ file: 'postgres/base.tar', start_wal: expect.stringMatching(/^[0-9A-F]{24}$/), start_time: expect.any(String), end_time: expect.any(String) });
    expect(show.files.map((f: { path: string }) => f.path)).toContain('postgres/base.tar');
  });

  it('rollback --to an instant between two commits keeps exactly the first', async () => {
    await sql("INSERT INTO marks(v) VALUES ('A')");
    await sleep(1200);
    const between = new Date().toISOString().replace('T', ' ').replace('Z', ''); // the "2026-12-07 10:31:05.123" form, UTC
    await sleep(1200);
    await sql("INSERT INTO marks(v) VALUES ('B')");
    await archived();
    expect(await rows()).toBe('A,B');
    const r = await cli(['rollback', '--to', between, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ base_backup: baseId, target: new Date(`${between.replace(' ', 'T')}Z`).toISOString(), safety_backup: expect.any(String) });
    expect(await rows()).toBe('A');
    // promoted, writable, the recovery settings gone again, archiving on the new timeline
    expect(await sql('SELECT pg_is_in_recovery()')).toBe('f');
    expect(await sql("SELECT count(*) FROM pg_file_settings WHERE name LIKE 'recovery_target%' OR name = 'restore_command'")).toBe('0');
    await sql("INSERT INTO marks(v) VALUES ('C')");
    expect(await archived()).toMatch(/^00000002/);
    // the safety backup holds the state before: A and B
    const safety = JSON.parse((await cli(['backups', 'show', out.safety_backup])).stdout);
    expect(safety.tag).toBe('pre-rollback-to');
    // every service healthy again, and status reports the archive in every format
    const st = await cli(['status', '--json']);
    const check = JSON.parse(st.stdout).checks.find((c: { check: string }) => c.check === 'wal archive');
    expect(check, st.stdout).toMatchObject({ level: 'OK', message: expect.stringMatching(/last archived 00000002\S+ .*none waiting.*newest in the archive/) });
    const prom = (await cli(['status', '--format', 'prometheus'])).stdout;
    expect(prom).toMatch(/^lifeops_wal_archived_last_age_seconds\{[^}]*\} \d/m);
    expect(prom).toMatch(/^lifeops_wal_archive_gap\{[^}]*\} 0$/m);
    expect(prom).toMatch(/^lifeops_wal_archive_failures\{[^}]*\} 0$/m);
    const nagios = (await cli(['status', '--format', 'nagios'])).stdout;
    expect(nagios).toMatch(/^OK: pitr-local: /);
    expect(nagios).toMatch(/^OK wal archive: last archived 00000002/m);
  }, 300_000);

  it('a time outside the recoverable range exits 2 naming the range, and nothing changes', async () => {
    const before = await rows();
    for (const to of ['2001-01-01 00:00:00', '2099-01-01T00:00:00+02:00']) {
      const r = await cli(['rollback', '--to', to]);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/is outside the recoverable range \d{4}-\d\d-\d\dT[\d:.]+Z \.\. \d{4}-\d\d-\d\dT[\d:.]+Z \(oldest base backup \.\. newest archived WAL\)/);
    }
    const bad = await cli(['rollback', '--to', 'last tuesday']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--to "last tuesday" is not a time lifeops reads; valid: /);
    expect(await rows()).toBe(before);
  }, 120_000);

  it('a segment missing from the archive is a gap: backups verify fails naming it, status warns', async () => {
    const files = (await dbExec('ls', ARCHIVE)).split('\n').filter((f) => /^[0-9A-F]{24}$/.test(f));
    const show = JSON.parse((await cli(['backups', 'show', baseId])).stdout);
    const start: string = show.contents.postgres.base_backup.start_wal;
    const middle = files.filter((f) => f.slice(8) > start.slice(8))[0];
    expect(files.indexOf(middle)).toBeLessThan(files.length - 1);
    await dbExec('mv', `${ARCHIVE}/${middle}`, `/tmp/${middle}`);
    try {
      const v = await cli(['backups', 'verify', baseId]);
      expect(v.exitCode, v.stderr).toBe(1);
      expect(v.stderr).toContain(`the WAL archive has a gap: 1 segment missing from ${middle}`);
      const st = await cli(['status', '--json']);
      const check = JSON.parse(st.stdout).checks.find((c: { check: string }) => c.check === 'wal archive');
      expect(check).toMatchObject({ level: 'WARNING', message: expect.stringContaining(`GAP: 1 segment missing from ${middle}`) });
    } finally {
      await dbExec('mv', `/tmp/${middle}`, `${ARCHIVE}/${middle}`);
    }
    const again = await cli(['backups', 'verify', baseId, '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).wal).toMatchObject({ from: start, segments: expect.any(Number) });
    expect(JSON.parse(again.stdout).wal.gap).toBeUndefined();
  }, 180_000);

  it('a recovery that fails (a damaged segment) is undone: the database is as it was', async () => {
    await sql("INSERT INTO marks(v) VALUES ('D')");
    await sleep(1200);
    const between = new Date().toISOString();
    await sleep(1200);
    await sql("INSERT INTO marks(v) VALUES ('E')");
    const seg = await archived();
    const before = await rows();
    expect(before).toBe('A,C,D,E');
    // the segment holding D and E cut short in the archive: the recovery stops with FATAL
    await dbExec('truncate', '-s', '8192', `${ARCHIVE}/${seg}`);
    const r = await cli(['rollback', '--to', between]);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/db stopped during the recovery/);
    expect(r.stderr).toMatch(/undone: the database is as it was before this rollback \(also in safety backup \S+\)/);
    expect(await rows()).toBe(before);
    expect(await sql('SELECT pg_is_in_recovery()')).toBe('f');
    const vols = (await execa('docker', ['volume', 'ls', '-q', '--filter', 'label=lifeops.project=pitr-local'])).stdout;
    expect(vols).not.toMatch(/pitr-undo/);
  }, 300_000);
});
