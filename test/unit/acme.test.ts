// front.tls.acme without a CA: the schema, which certificates are asked for
// (plan/certs.ts), the nginx sites before and after a certificate (checked by
// the host's real `nginx -t` with a real key pair), the compose mounts, the
// cron line, status' judgement of served certificates, traefik's resolver.
// The ACME exchange itself runs against pebble in test/engine/acme.test.ts.
import { describe, it, expect, afterAll } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import { statusSchema } from '../../src/config/schema.js';
import { renderAll } from '../../src/render/index.js';
import { renderCronD } from '../../src/render/cron.js';
import { planCertificates, backoffMs, type CertFacts } from '../../src/plan/certs.js';
import { tlsCheck, statusLimits, type TlsFact } from '../../src/plan/status.js';
import { demoCopy, editStack, lifeops, type StackDoc } from '../helpers.js';

const tmps: string[] = [];
afterAll(() => tmps.forEach((d) => rmSync(d, { recursive: true, force: true })));

const acmeStack = (edit?: (d: StackDoc) => void) => {
  const s = demoCopy('acu', 18479, (d) => {
    d.front.domains = [
      { name: 'app.example.org', aliases: ['www.example.org'], upstream: 'web' },
      { name: 'api.example.org', upstream: 'web' },
    ];
    d.front.tls = { enabled: true, acme: { email: 'ops@example.org' } };
    edit?.(d);
  });
  tmps.push(s.dir);
  return s;
};
const load = (file: string) => loadStack({ file, env: 'local', processEnv: {}, allowMissing: true });
const NOW = new Date('2027-01-01T00:00:00Z');
const inDays = (n: number) => new Date(NOW.getTime() + n * 86_400_000).toISOString();

describe('front.tls.acme schema', () => {
  it("defaults to Let's Encrypt production and renewal 30 days before expiry", () => {
    const s = load(acmeStack().file);
    expect(s.front!.tls.acme).toEqual({ email: 'ops@example.org', directory: 'https://acme-v02.api.letsencrypt.org/directory', renew_before: 30 });
  });

  it('refuses a plain-http directory, naming the key and what is valid', () => {
    const s = acmeStack();
    editStack(s.file, (d) => void (d.front.tls.acme.directory = 'http://ca.example.org/dir'));
    expect(() => load(s.file)).toThrow(/front\.tls\.acme\.directory.*https URL/s);
  });
});

describe('which certificates are asked for', () => {
  const front = () => load(acmeStack((d) => void (d.front.tls.acme.renew_before = 10)).file).front!;
  const facts = (installed: CertFacts['installed'], attempts: CertFacts['attempts'] = {}): CertFacts => ({ installed, attempts });
  const both = (days: number) => ({ 'app.example.org': { names: ['app.example.org', 'www.example.org'], not_after: inDays(days) }, 'api.example.org': { names: ['api.example.org'], not_after: inDays(days) } });

  it('issues what is missing, keeps what is valid beyond renew_before, renews what is due', () => {
    expect(planCertificates(front(), facts({}), NOW).map((d) => [d.domain, d.action, d.names])).toEqual([
      ['app.example.org', 'issue', ['app.example.org', 'www.example.org']],
      ['api.example.org', 'issue', ['api.example.org']],
    ]);
    expect(planCertificates(front(), facts(both(40)), NOW).map((d) => d.action)).toEqual(['keep', 'keep']);
    const due = planCertificates(front(), facts(both(9.5)), NOW);
    expect(due.map((d) => d.action)).toEqual(['renew', 'renew']);
    expect(due[0].reason).toMatch(/9\.5 days left, under renew_before \(10\)/);
  });

  it('renews a certificate that lacks an alias, and every one when forced', () => {
    const i = both(40);
    i['app.example.org'].names = ['app.example.org'];
    const d = planCertificates(front(), facts(i), NOW);
    expect(d.map((x) => x.action)).toEqual(['renew', 'keep']);
    expect(d[0].reason).toMatch(/does not cover www\.example\.org/);
    expect(planCertificates(front(), facts(both(40)), NOW, { force: true }).map((x) => x.action)).toEqual(['renew', 'renew']);
  });

  it("cron's renewals wait out the backoff after failures; deploy and --force do not", () => {
    const failedAt = new Date(NOW.getTime() - 30 * 60_000).toISOString(); // 30 min ago, 1 failure: wait 1 h
    const attempts = { 'api.example.org': { time: failedAt, ok: false, failures: 1 } };
    const cron = planCertificates(front(), facts({}, attempts), NOW, { backoff: true });
    expect(cron.map((x) => x.action)).toEqual(['issue', 'wait']);
    expect(cron[1].reason).toMatch(/1 failed attempt\(s\), the next after 2027-01-01T00:30:00/);
    expect(planCertificates(front(), facts({}, attempts), NOW).map((x) => x.action)).toEqual(['issue', 'issue']);
    expect([1, 2, 3, 6, 20].map((n) => backoffMs(n) / 3_600_000)).toEqual([1, 2, 4, 24, 24]);
  });
});

describe('the nginx front with front.tls.acme', () => {
  const site = (certified: string[]) => {
    const s = load(acmeStack().file);
    return Object.fromEntries(renderAll(s, { renderDir: '/tmp/x', certified }).map((f) => [f.path, f.content]));
  };

  it('before its certificate a domain is served over HTTP with the challenge path; after, over HTTPS from the state dir', () => {
    const files = site(['app.example.org']);
    const api = files['nginx/conf.d/api.example.org.conf'];
    expect(api).not.toMatch(/listen 443/);
    expect(api).toMatch(/listen 80;[\s\S]*location \/\.well-known\/acme-challenge\/ \{\s+root \/var\/www\/certbot;/);
    expect(api).toMatch(/proxy_pass \$upstream;/);
    const app = files['nginx/conf.d/app.example.org.conf'];
    expect(app).toMatch(/listen 443 ssl http2 default_server;/);
    expect(app).toMatch(/ssl_certificate \/etc\/lifeops\/certs\/app\.example\.org\/fullchain\.pem;/);
    expect(app).toMatch(/return 301 https:\/\/\$host\$request_uri;/);
    const front = (parse(files['docker-compose.yml']) as StackDoc).services.front;
    expect(front.volumes).toEqual(expect.arrayContaining(['../../acme/local/live:/etc/lifeops/certs:ro', '../../acme/local/webroot:/var/www/certbot:ro']));
    expect(front.volumes.join(' ')).not.toMatch(/letsencrypt/);
  });

  it('host nginx -t accepts both sites with a real key pair in place of the installed one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-acme-nginx-'));
    tmps.push(dir);
    const certs = path.join(dir, 'certs', 'app.example.org');
    mkdirSync(certs, { recursive: true });
    await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=app.example.org', '-keyout', path.join(certs, 'privkey.pem'), '-out', path.join(certs, 'fullchain.pem')]);
    const conf = path.join(dir, 'nginx');
    for (const [p, content] of Object.entries(site(['app.example.org'])).filter(([p]) => p.startsWith('nginx/'))) {
      const file = path.join(dir, p);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(
        file,
        content
          .replaceAll('/etc/nginx/lifeops', conf)
          .replaceAll('/etc/lifeops/certs', path.join(dir, 'certs'))
          .replace('pid /var/run/nginx.pid;', `pid ${dir}/nginx.pid;`)
          .replace('access_log /dev/stdout json;', 'access_log off;'),
      );
    }
    const t = await execa('nginx', ['-t', '-c', path.join(conf, 'nginx.conf'), '-p', conf + '/'], { reject: false, all: true });
    expect(t.exitCode, t.all).toBe(0);
    expect(t.all).toMatch(/test is successful/);
  });

  it('the installed cron file renews the certificates (only with front.tls.acme)', () => {
    const target = { node: '/usr/bin/node', bin: '/opt/lifeops/bin/lifeops.js', stateDir: '/var/lib/lifeops' };
    const withAcme = renderCronD(load(acmeStack().file), target);
    expect(withAcme).toMatch(/^17 3,15 \* \* \* root .* certs renew --wait 10m --env local >> \/var\/lib\/lifeops\/logs\/cron\.log 2>&1$/m);
    const plain = demoCopy('acu', 18479);
    tmps.push(plain.dir);
    expect(renderCronD(load(plain.file), target)).not.toMatch(/certs renew/);
  });
});

describe('status of served certificates', () => {
  const limits = statusLimits(statusSchema.parse({}));
  const fact = (f: Partial<TlsFact>): TlsFact => ({ domain: 'app.example.org', file: 'served on 127.0.0.1:443 (SNI app.example.org)', source: 'served', issuer: 'Pebble Intermediate CA', name_match: true, not_after: inDays(60), duration_ms: 3, ...f });

  it('OK with days left, issuer and where it was read; a failed last renewal is a WARNING with its reason', () => {
    const ok = tlsCheck(fact({ last_attempt: { time: inDays(-1), ok: true, failures: 0 } }), limits, NOW);
    expect(ok.level).toBe('OK');
    expect(ok.message).toMatch(/expires in 60 days .*issuer Pebble Intermediate CA, served on 127\.0\.0\.1:443/);
    const failed = tlsCheck(fact({ last_attempt: { time: inDays(-1), ok: false, failures: 2, error: 'directory https://ca/dir: connect ECONNREFUSED' } }), limits, NOW);
    expect(failed.level).toBe('WARNING');
    expect(failed.message).toMatch(/last renewal attempt failed .*2 in a row.*ECONNREFUSED/);
  });

  it('under crit_days is CRITICAL whatever the last attempt; a name the certificate does not cover is CRITICAL; no certificate yet is a WARNING', () => {
    expect(tlsCheck(fact({ not_after: inDays(3), last_attempt: { time: inDays(-1), ok: false, failures: 1, error: 'x' } }), limits, NOW).level).toBe('CRITICAL');
    const wrong = tlsCheck(fact({ name_match: false }), limits, NOW);
    expect(wrong.level).toBe('CRITICAL');
    expect(wrong.message).toMatch(/does not cover app\.example\.org/);
    const pending = tlsCheck(fact({ pending: 'the CA refused: rateLimited', source: undefined, not_after: undefined }), limits, NOW);
    expect(pending.level).toBe('WARNING');
    expect(pending.message).toMatch(/served over HTTP only: the CA refused: rateLimited/);
  });
});

describe('the traefik front', () => {
  it("its certificate resolver uses front.tls.acme's directory and e-mail; a CA bundle is refused", () => {
    const s = acmeStack((d) => {
      d.front.kind = 'traefik';
      d.front.tls.acme.directory = 'https://acme-staging-v02.api.letsencrypt.org/directory';
    });
    const yml = renderAll(load(s.file), { renderDir: '/tmp/x' }).find((f) => f.path === 'traefik/traefik.yml')!.content;
    const resolver = (parse(yml) as StackDoc).certificatesResolvers;
    expect(Object.values(resolver)[0]).toMatchObject({ acme: { email: 'ops@example.org', caServer: 'https://acme-staging-v02.api.letsencrypt.org/directory', httpChallenge: { entryPoint: 'web' } } });
    editStack(s.file, (d) => void (d.front.tls.acme.ca_bundle = 'pebble.pem'));
    expect(() => renderAll(load(s.file), { renderDir: '/tmp/x' })).toThrow(/front\.tls\.acme\.ca_bundle.*traefik/s);
  });
});

describe('targets', () => {
  it('a swarm environment with front.tls.acme is refused when it loads, dry run included (exit 2 at the key, nothing done)', async () => {
    const s = acmeStack();
    const r = await lifeops(['-f', s.file, '--state-dir', s.stateDir, 'deploy', 'swarm', '--dry-run'], { env: { POSTGRES_PASSWORD: 'x' } });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/stack\.yaml:\d+:\d+: front\.tls\.acme: lifeops obtains certificates for the compose target's nginx front only/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
