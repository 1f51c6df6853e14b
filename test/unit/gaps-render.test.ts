// Issue 16's render gaps: Command Center's Grafana is routed by Traefik (its
// labels land on the monitoring override's grafana service, reachable on the
// network Traefik watches), and a `$` in the CSP reaches nginx as a literal.
// Real nginx runs these files in test/engine/gaps-nginx-dollar.test.ts.
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { writeFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parse, stringify } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import { renderAll } from '../../src/render/index.js';
import { nginxLiteral, NGINX_DOLLAR_VAR } from '../../src/render/nginx.js';
import { ROOT } from '../helpers.js';

const DUMMY_SECRETS: Record<string, string> = {
  POSTGRES_PASSWORD: 'dummy-postgres-password-0123456789abcdef',
  DB_PASSWORD: 'dummy-db-password-0123456789abcdef01234567',
  SECRET_KEY: 'dummy-secret-key-0123456789abcdef0123456789',
  JWT_SECRET_KEY: 'dummy-jwt-secret-key-0123456789abcdef012345',
};

const files = (stackFile: string, env: string, processEnv: Record<string, string> = DUMMY_SECRETS) => {
  const stack = loadStack({ file: stackFile, env, processEnv });
  return Object.fromEntries(renderAll(stack, { renderDir: path.join(path.dirname(stackFile), '.lifeops', 'render', env) }).map((f) => [f.path, f.content]));
};

describe("Command Center's Grafana behind Traefik", () => {
  for (const env of ['production', 'staging']) {
    it(`${env}: the grafana service carries a router for grafana.<domain> on websecure with basic auth and port 3000`, () => {
      const out = files(path.join(ROOT, 'stacks', 'commandcenter.yaml'), env);
      const mon = parse(out['docker-compose.monitoring.yml']);
      const main = parse(out['docker-compose.yml']);
      const domain = env === 'production' ? 'commandcenter.example.com' : 'staging.commandcenter.example.com';
      const r = `commandcenter-grafana-${domain.replace(/\./g, '-')}`;
      const labels = mon.services.grafana.labels as Record<string, string>;
      expect(labels['traefik.enable']).toBe('true');
      expect(labels[`traefik.http.routers.${r}.rule`]).toBe(`Host(\`grafana.${domain}\`)`);
      expect(labels[`traefik.http.routers.${r}.entrypoints`]).toBe('websecure');
      expect(labels[`traefik.http.routers.${r}.tls.certresolver`]).toBe('letsencrypt');
      expect(labels[`traefik.http.routers.${r}.service`]).toBe(r);
      expect(labels[`traefik.http.services.${r}.loadbalancer.server.port`]).toBe('3000');
      expect(labels[`traefik.http.routers.${r}.middlewares`].split(',')).toEqual(['commandcenter-headers', `${r}-auth`]);
      expect(labels[`traefik.http.middlewares.${r}-auth.basicauth.users`]).toBe('${TRAEFIK_BASIC_AUTH_USERS}');
      // Traefik only sees services with its stack label, on the network named in traefik.yml
      expect(labels['lifeops.stack']).toBe('commandcenter');
      const traefikYml = parse(out['traefik/traefik.yml']);
      expect(traefikYml.providers.docker.constraints).toBe('Label(`lifeops.stack`, `commandcenter`)');
      const net = `commandcenter-${env}_default`;
      expect(traefikYml.providers.docker.network).toBe(net);
      expect(labels['traefik.docker.network']).toBe(net);
      // grafana and traefik share that network (compose's "default" of the project)
      expect(mon.services.grafana.networks).toContain('default');
      expect(main.services.traefik.networks).toContain('default');
      // the Grafana router is the only one on the grafana service, and no other service claims its host
      for (const [name, svc] of Object.entries({ ...main.services, ...mon.services }) as [string, { labels?: Record<string, string> }][]) {
        if (name === 'grafana') continue;
        for (const v of Object.values(svc.labels ?? {})) expect(v).not.toContain(`grafana.${domain}`);
      }
    });
  }
});

describe('a $ in a header value', () => {
  it('nginxLiteral escapes backslash and double quote and turns $ into the variable that holds one', () => {
    expect(nginxLiteral("default-src 'self'")).toBe("default-src 'self'");
    expect(nginxLiteral("script-src 'nonce-$abc' $x{y}")).toBe(`script-src 'nonce-\${${NGINX_DOLLAR_VAR}}abc' \${${NGINX_DOLLAR_VAR}}x{y}`);
    expect(nginxLiteral('a\\b')).toBe('a\\\\b');
    expect(nginxLiteral('$$')).toBe(`\${${NGINX_DOLLAR_VAR}}\${${NGINX_DOLLAR_VAR}}`);
  });

  it('the rendered site sends the CSP through the $ variable, and nginx.conf defines it only when needed', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gaps-csp-'));
    const doc = parse(readFileSync(path.join(ROOT, 'stacks', 'demo.yaml'), 'utf8'));
    doc.front.security_headers = { content_security_policy: "default-src 'self'; script-src 'self' 'sha256-$$abc' $$host" };
    const file = path.join(dir, 'stack.yaml');
    writeFileSync(file, stringify(doc));
    writeFileSync(path.join(dir, 'demo.local.env'), readFileSync(path.join(ROOT, 'stacks', 'demo.local.env')));
    const out = files(file, 'local', { POSTGRES_PASSWORD: 'x-x-x' });
    const site = Object.entries(out).find(([p]) => p.startsWith('nginx/conf.d/'))![1];
    expect(site).toContain(`add_header Content-Security-Policy "default-src 'self'; script-src 'self' 'sha256-\${lifeops_dollar}abc' \${lifeops_dollar}host" always;`);
    // no bare `$host` left in the CSP line (nginx would put the request's host there)
    const csp = site.split('\n').find((l) => l.includes('Content-Security-Policy'))!;
    expect(csp.replace(/\$\{lifeops_dollar\}/g, '')).not.toContain('$');
    expect(out['nginx/nginx.conf']).toContain('geo $lifeops_dollar { default "$"; }');
    // without a $ nothing changes
    const plain = files(path.join(ROOT, 'stacks', 'demo.yaml'), 'local', { POSTGRES_PASSWORD: 'x-x-x' });
    expect(plain['nginx/nginx.conf']).not.toContain('lifeops_dollar');
  });
});
