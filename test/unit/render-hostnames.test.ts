// HTTP services named with "_" (AI-IA's web_prod, web_staging): Docker's DNS
// resolves the name, but Django answers 400 to `Host: web_prod:8000` (not a valid
// host name), which took both Prometheus scrapes and the blackbox probes down on
// the test bed. Such a service gets a "-" network alias; in-stack HTTP clients use it.
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parse, stringify } from 'yaml';
import { loadStack } from '../../src/config/load.js';
import { renderAll } from '../../src/render/index.js';
import { aliasClashes, hostAlias, httpHost } from '../../src/render/hostnames.js';
import { ROOT, lifeops } from '../helpers.js';

const AIIA = path.join(ROOT, 'stacks', 'aiia.yaml');
const SECRETS = { POSTGRES_PASSWORD: 'p-0123456789abcdef', DJANGO_SECRET_KEY: 'k-0123456789abcdef', DJANGO_STAGING_SECRET_KEY: 's-0123456789abcdef' };

const render = (file: string, env: string) => {
  const stack = loadStack({ file, env, processEnv: SECRETS });
  return Object.fromEntries(renderAll(stack, { renderDir: path.join(path.dirname(file), '.lifeops', 'render', env) }).map((f) => [f.path, f.content]));
};

describe('host names of HTTP services', () => {
  it('hostAlias/httpHost: "_" becomes "-"; valid names stay as they are', () => {
    expect(hostAlias('web_prod')).toBe('web-prod');
    expect(hostAlias('web')).toBeUndefined();
    expect(httpHost('web_staging_2')).toBe('web-staging-2');
    expect(httpHost('web-api')).toBe('web-api');
    expect(aliasClashes(['web_prod', 'web-prod', 'db'])).toEqual([{ service: 'web_prod', alias: 'web-prod' }]);
  });

  it('AI-IA testbed: web_prod and web_staging carry their alias on every network; data stores keep the plain list', () => {
    const out = render(AIIA, 'testbed');
    const compose = parse(out['docker-compose.yml']);
    expect(compose.services.web_prod.networks).toEqual({ default: { aliases: ['web-prod'] }, backend: { aliases: ['web-prod'] } });
    expect(compose.services.web_staging.networks).toEqual({ default: { aliases: ['web-staging'] }, backend: { aliases: ['web-staging'] } });
    expect(compose.services.postgresql.networks).toEqual(['default', 'backend']);
    expect(compose.services.nginx.networks).toEqual(['default']);
  });

  it('AI-IA testbed: Prometheus scrapes and blackbox probes address the aliases, never a name with "_"', () => {
    const prom = parse(render(AIIA, 'testbed')['prometheus/prometheus.yml']);
    const targets = (job: string) => prom.scrape_configs.find((j: { job_name: string }) => j.job_name === job).static_configs[0].targets;
    expect(targets('web-web_prod')).toEqual(['web-prod:8000']);
    expect(targets('web-web_staging')).toEqual(['web-staging:8001']);
    expect(targets('blackbox-http')).toEqual(['http://web-prod:8000/health/', 'http://web-staging:8001/health/']);
    const all = prom.scrape_configs.flatMap((j: { static_configs: { targets: string[] }[] }) => j.static_configs[0].targets);
    expect(all.filter((t: string) => t.includes('_'))).toEqual([]);
  });

  it('the pgbouncer exporter joins the networks PgBouncer is on', () => {
    const mon = parse(render(AIIA, 'testbed')['docker-compose.monitoring.yml']);
    const compose = parse(render(AIIA, 'testbed')['docker-compose.yml']);
    for (const net of compose.services.pgbouncer.networks) expect(mon.services['pgbouncer-exporter'].networks).toContain(net);
  });

  it('an alias equal to another service name is refused with the key, its line, and exit 2', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lifeops-hostnames-'));
    const doc = parse(readFileSync(AIIA, 'utf8'));
    doc.services['web-prod'] = { role: 'other', image: 'busybox:1' };
    const file = path.join(dir, 'aiia.yaml');
    writeFileSync(file, stringify(doc));
    copyFileSync(path.join(ROOT, 'stacks', 'aiia.testbed.env'), path.join(dir, 'aiia.testbed.env'));
    expect(() => render(file, 'testbed')).toThrow(/services\.web_prod: needs the host name "web-prod".*another service is named "web-prod"/);
    const r = await lifeops(['-f', file, 'render', '--env', 'testbed', '--out', path.join(dir, 'out')], { env: SECRETS });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: services\\.web_prod: needs the host name "web-prod"`));
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
