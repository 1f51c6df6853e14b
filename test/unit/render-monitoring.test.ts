// The monitoring renderer: compose override, Prometheus, Alertmanager and
// Grafana files. Every rendered file goes through its real validator on this
// host: promtool (prometheus 2.42), amtool (alertmanager 0.25) and
// docker-compose config (compose v1). No engine or network needed.
import { describe, expect, it, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { renderAll } from '../../src/render/index.js';
import { renderMonitoring } from '../../src/render/monitoring.js';
import { FULL_MONITORING, SECRETS, loadDemoWith, removeDir, tmpDir, writeFiles } from '../fixtures/rules/monitoring-stack.js';

const dirs: string[] = [];
const newDir = (p: string) => {
  const d = tmpDir(p);
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach(removeDir));

const run = (cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) =>
  spawnSync(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: 'utf8' });

const byPath = (files: { path: string; content: string }[]) => Object.fromEntries(files.map((f) => [f.path, f.content]));

const full = () => loadDemoWith(FULL_MONITORING);
const production = () => loadDemoWith(`${FULL_MONITORING}  prometheus_port: 19090\n`, 'production');

const MONITORING_PATHS = [
  'alertmanager/alertmanager.yml',
  'docker-compose.monitoring.yml',
  'grafana/provisioning/dashboards/dashboards.yml',
  'grafana/provisioning/dashboards/demo-overview.json',
  'grafana/provisioning/datasources/datasources.yml',
  'loki/loki.yml',
  'prometheus/prometheus.yml',
  'prometheus/rules/alerts.yml',
  'prometheus/rules/recording.yml',
  'promtail/promtail.yml',
];
// Other renderers share renderAll; these tests look at the monitoring files only.
const isMonitoring = (p: string) => MONITORING_PATHS.includes(p);

describe('monitoring renderer: what is rendered', () => {
  it('renders nothing without a monitoring block or when disabled', () => {
    expect(renderMonitoring(loadDemoWith(''))).toEqual([]);
    expect(renderMonitoring(loadDemoWith('monitoring: { enabled: false }\n'))).toEqual([]);
    expect(renderAll(loadDemoWith(''), { renderDir: '/tmp/x' }).filter((f) => isMonitoring(f.path))).toEqual([]);
  });

  it('renders every monitoring file, registered in renderAll', () => {
    expect(renderMonitoring(full()).map((f) => f.path).sort()).toEqual(MONITORING_PATHS);
    expect(renderAll(full(), { renderDir: '/tmp/x' }).map((f) => f.path).filter(isMonitoring)).toEqual(MONITORING_PATHS);
  });

  it('is deterministic: two renders give the same bytes', () => {
    const stack = full();
    const a = renderAll(stack, { renderDir: '/tmp/x' });
    const b = renderAll(stack, { renderDir: '/tmp/x' });
    expect(b.map((f) => [f.path, f.content])).toEqual(a.map((f) => [f.path, f.content]));
    // A second load of the same stack (another temp copy) renders the same monitoring bytes.
    expect(byPath(renderMonitoring(full()))).toEqual(byPath(renderMonitoring(stack)));
    // Exporter order in the stack file does not change the output.
    const shuffled = loadDemoWith(FULL_MONITORING.replace('[statsd, cadvisor, node, postgres, redis, loki, promtail]', '[promtail, redis, node, loki, statsd, postgres, cadvisor]'));
    expect(byPath(renderMonitoring(shuffled))).toEqual(byPath(renderMonitoring(stack)));
  });

  it('never writes a secret value into any rendered file', () => {
    for (const stack of [full(), production()]) {
      for (const f of renderMonitoring(stack)) {
        for (const secret of Object.values(SECRETS)) expect(f.content, f.path).not.toContain(secret);
        expect(f.content, f.path).not.toContain('hooks.slack.com');
      }
    }
  });

  it('emits no YAML anchors or aliases', () => {
    for (const f of renderMonitoring(full())) if (f.path.endsWith('.yml')) expect(f.content, f.path).not.toMatch(/[&*]a\d+\b/);
  });
});

describe('docker-compose.monitoring.yml', () => {
  const compose = (stack = full()) => parse(byPath(renderMonitoring(stack))['docker-compose.monitoring.yml']) as any;

  it('follows the compose.ts conventions for every service', () => {
    const doc = compose();
    expect(doc.name).toBeUndefined();
    expect(Object.keys(doc.services)).toEqual([
      'prometheus', 'alertmanager', 'grafana', 'statsd-exporter', 'cadvisor', 'node-exporter', 'postgres-exporter', 'redis-exporter', 'loki', 'promtail',
    ]);
    for (const [name, svc] of Object.entries<any>(doc.services)) {
      expect(svc.labels, name).toEqual({ 'lifeops.stack': 'demo', 'lifeops.env': 'local', 'lifeops.role': 'monitoring' });
      expect(svc.logging, name).toEqual({ driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } });
      expect(svc.networks, name).toEqual(['default', 'backend']);
      expect(svc.deploy.resources.limits.memory, name).toMatch(/^\d+m$/);
      expect(svc.deploy.resources.limits.cpus, name).toMatch(/^[\d.]+$/);
      expect(svc.restart, name).toBe('unless-stopped');
    }
    expect(doc.networks).toEqual({ default: {}, backend: { internal: true } });
    expect(Object.keys(doc.volumes)).toEqual(['alertmanager-data', 'grafana-data', 'loki-data', 'prometheus-data', 'promtail-positions']);
  });

  it('runs Prometheus with the config, the TSDB path, the retention and the lifecycle API', () => {
    const p = compose(loadDemoWith(FULL_MONITORING.replace('monitoring:\n', 'monitoring:\n  retention: 30d\n'))).services.prometheus;
    expect(p.image).toBe('prom/prometheus:v2.53.0');
    expect(p.command).toEqual(['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', '--storage.tsdb.retention.time=30d', '--web.enable-lifecycle']);
    expect(p.volumes).toEqual(['./prometheus:/etc/prometheus:ro', 'prometheus-data:/prometheus']);
    expect(p.ports).toBeUndefined();
  });

  it('publishes Prometheus on 127.0.0.1 only when prometheus_port is set', () => {
    expect(compose(production()).services.prometheus.ports).toEqual(['127.0.0.1:19090:9090']);
  });

  it('mounts the Alertmanager config and its secrets folder, and lists the expected secret files', () => {
    const text = byPath(renderMonitoring(full()))['docker-compose.monitoring.yml'];
    const am = (parse(text) as any).services.alertmanager;
    expect(am.volumes).toContain('./alertmanager:/etc/alertmanager:ro');
    expect(am.volumes).toContain('./alertmanager/secrets:/etc/alertmanager/secrets:ro');
    expect(text).toMatch(/^# .*slack_webhook_url \(from monitoring\.alertmanager\.slack_webhook_url\), pagerduty_routing_key \(from monitoring\.alertmanager\.pagerduty_routing_key\)/m);
  });

  it('gives Grafana its provisioning and a password reference, never a value', () => {
    const g = compose().services.grafana;
    expect(g.volumes).toContain('./grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(g.environment.GF_SECURITY_ADMIN_PASSWORD).toBe('${GRAFANA_ADMIN_PASSWORD}');
    const off = loadDemoWith(FULL_MONITORING.replace('monitoring:\n', 'monitoring:\n  grafana: false\n'));
    expect(compose(off).services.grafana).toBeUndefined();
    expect(renderMonitoring(off).some((f) => f.path.startsWith('grafana/'))).toBe(false);
  });

  it('maps exporter images and builds the Postgres DSN from a ${VAR} reference', () => {
    const s = compose().services;
    expect(s['statsd-exporter'].image).toMatch(/^prom\/statsd-exporter:/);
    expect(s.cadvisor.image).toMatch(/^gcr\.io\/cadvisor\/cadvisor:/);
    expect(s.cadvisor.volumes).toEqual(['/:/rootfs:ro', '/var/run:/var/run:ro', '/sys:/sys:ro', '/var/lib/docker:/var/lib/docker:ro']);
    expect(s['node-exporter'].image).toMatch(/^prom\/node-exporter:/);
    expect(s['postgres-exporter'].image).toMatch(/^prometheuscommunity\/postgres-exporter:/);
    expect(s['postgres-exporter'].environment.DATA_SOURCE_NAME).toBe('postgresql://demo:${POSTGRES_PASSWORD}@db:5432/demo?sslmode=disable');
    expect(s['redis-exporter'].image).toMatch(/^oliver006\/redis_exporter:/);
    expect(s['redis-exporter'].environment).toEqual({ REDIS_ADDR: 'redis://cache:6379' });
    expect(s.loki.image).toMatch(/^grafana\/loki:/);
    expect(s.promtail.image).toMatch(/^grafana\/promtail:/);

    const mapped = loadDemoWith(FULL_MONITORING, 'local', SECRETS, '      prom/prometheus: lifeops/prometheus:local\n      grafana/grafana: lifeops/grafana:local\n');
    expect(compose(mapped).services.prometheus.image).toBe('lifeops/prometheus:local');
    expect(compose(mapped).services.grafana.image).toBe('lifeops/grafana:local');
  });

  it('Loki keeps logs log_retention_days (30 by default) through its compactor, from the mounted config', () => {
    const files = byPath(renderMonitoring(full()));
    const loki = parse(files['loki/loki.yml']);
    expect(loki.limits_config.retention_period).toBe('720h');
    expect(loki.compactor).toMatchObject({ retention_enabled: true, shared_store: 'filesystem', working_directory: '/loki/compactor' });
    expect(loki.schema_config.configs[0].index.period).toBe('24h'); // retention is whole index tables
    const week = byPath(renderMonitoring(loadDemoWith(FULL_MONITORING.replace('monitoring:\n', 'monitoring:\n  log_retention_days: 7\n'))));
    expect(parse(week['loki/loki.yml']).limits_config.retention_period).toBe('168h');
    const svc = compose().services.loki;
    expect(svc.volumes).toEqual(['./loki:/etc/loki/lifeops:ro', 'loki-data:/loki']);
    expect(svc.command).toEqual(['-config.file=/etc/loki/lifeops/loki.yml']);
    const noLogs = renderMonitoring(loadDemoWith(FULL_MONITORING.replace(', loki, promtail]', ']'))).map((f) => f.path);
    expect(noLogs.filter((p) => /^(loki|promtail)\//.test(p))).toEqual([]);
  });

  it("promtail ships this project's containers to Loki labelled service=<stack>-<service>; its relabel rules pass promtool", () => {
    const promtail = parse(byPath(renderMonitoring(full()))['promtail/promtail.yml']);
    expect(promtail.clients).toEqual([{ url: 'http://loki:3100/loki/api/v1/push' }]);
    const job = promtail.scrape_configs[0];
    expect(job.docker_sd_configs[0].filters).toEqual([{ name: 'label', values: ['com.docker.compose.project=demo-local'] }]);
    expect(job.relabel_configs[0]).toEqual({ source_labels: ['__meta_docker_container_label_com_docker_compose_service'], target_label: 'service', replacement: 'demo-$1' });
    const svc = compose().services.promtail;
    expect(svc.volumes).toEqual(['./promtail:/etc/promtail/lifeops:ro', '/var/run/docker.sock:/var/run/docker.sock:ro', 'promtail-positions:/var/lib/promtail']);
    expect(svc.command).toEqual(['-config.file=/etc/promtail/lifeops/promtail.yml']);
    // promtail's relabel_configs are Prometheus' own: check them in a scrape job with promtool
    const dir = newDir('promtail-relabel');
    const asPrometheus = { scrape_configs: [{ job_name: 'relabel', static_configs: [{ targets: ['localhost:9080'] }], relabel_configs: job.relabel_configs }] };
    writeFileSync(path.join(dir, 'p.yml'), JSON.stringify(asPrometheus));
    const ok = run('promtool', ['check', 'config', path.join(dir, 'p.yml')]);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    asPrometheus.scrape_configs[0].relabel_configs[1].regex = '/(.*'; // the check is real: a broken regex fails
    writeFileSync(path.join(dir, 'p.yml'), JSON.stringify(asPrometheus));
    expect(run('promtool', ['check', 'config', path.join(dir, 'p.yml')]).status).not.toBe(0);
  });

  it('joins the networks of what it scrapes: Prometheus the web services, the exporters their data store', () => {
    // web only on `apps` (+ backend for the db), Redis only on `cachenet`: the default layout reaches neither
    const stack = loadDemoWith(`${FULL_MONITORING}networks:\n  apps: {}\n  cachenet: { internal: true }\n`, 'local', SECRETS, undefined, (t) =>
      t.replace('  web:\n    role: web\n', '  web:\n    role: web\n    networks: [apps, backend, cachenet]\n')
        .replace('  cache:\n    role: redis\n', '  cache:\n    role: redis\n    networks: [cachenet, default]\n'));
    const doc = compose(stack);
    expect(doc.services.prometheus.networks).toEqual(['default', 'backend', 'apps', 'cachenet']);
    expect(doc.services['redis-exporter'].networks).toEqual(['default', 'backend', 'cachenet']);
    expect(doc.services['postgres-exporter'].networks).toEqual(['default', 'backend']);
    expect(doc.services.alertmanager.networks).toEqual(['default', 'backend']);
    const dir = newDir('compose-nets');
    writeFiles(dir, renderAll(stack, { renderDir: dir }));
    for (const argv of [['docker-compose'], ['docker', 'compose']]) {
      if (run('sh', ['-c', `${argv.join(' ')} version`]).status !== 0) continue;
      const r = run(argv[0], [...argv.slice(1), '-p', stack.project, '-f', 'docker-compose.yml', '-f', 'docker-compose.monitoring.yml', 'config', '-q'], {
        cwd: dir, env: { POSTGRES_PASSWORD: 'p', GRAFANA_ADMIN_PASSWORD: 'g' },
      });
      expect(r.status, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
    }
  });

  it('passes docker-compose config together with the base compose file', () => {
    const which = run('sh', ['-c', 'command -v docker-compose']);
    if (which.status !== 0) {
      console.warn('docker-compose not installed: compose validation skipped');
      return;
    }
    for (const stack of [full(), production()]) {
      const dir = newDir('compose');
      writeFiles(dir, renderAll(stack, { renderDir: dir }));
      const r = run('docker-compose', ['-p', stack.project, '-f', 'docker-compose.yml', '-f', 'docker-compose.monitoring.yml', 'config', '-q'], {
        cwd: dir,
        env: { POSTGRES_PASSWORD: 'p', GRAFANA_ADMIN_PASSWORD: 'g' },
      });
      expect(r.status, r.stderr).toBe(0);
    }
  });
});

describe('prometheus/prometheus.yml', () => {
  it('has the intervals, external labels, alerting, rule files and scrape jobs', () => {
    const doc = parse(byPath(renderMonitoring(full()))['prometheus/prometheus.yml']) as any;
    expect(doc.global).toEqual({ scrape_interval: '15s', evaluation_interval: '15s', external_labels: { environment: 'local', stack: 'demo', region: 'eu-1' } });
    expect(doc.alerting.alertmanagers[0].static_configs[0].targets).toEqual(['alertmanager:9093']);
    expect(doc.rule_files).toEqual(['rules/alerts.yml', 'rules/recording.yml']);
    const jobs = Object.fromEntries(doc.scrape_configs.map((j: any) => [j.job_name, j]));
    expect(Object.keys(jobs)).toEqual(['prometheus', 'web', 'statsd-exporter', 'cadvisor', 'node-exporter', 'postgres-exporter', 'redis-exporter', 'loki', 'docker']);
    expect(jobs.web.metrics_path).toBe('/metrics');
    expect(jobs.web.static_configs[0].targets).toEqual(['web:8000']);
    expect(jobs['statsd-exporter'].static_configs[0].targets).toEqual(['statsd-exporter:9102']);
    expect(jobs['postgres-exporter'].static_configs[0].targets).toEqual(['postgres-exporter:9187']);
    expect(jobs['redis-exporter'].static_configs[0].targets).toEqual(['redis-exporter:9121']);
    expect(jobs.cadvisor.static_configs[0].targets).toEqual(['cadvisor:8080']);
    expect(jobs['node-exporter'].static_configs[0].targets).toEqual(['node-exporter:9100']);
    expect(jobs.docker.static_configs[0].targets).toEqual(['172.17.0.1:9323']);
    for (const j of doc.scrape_configs) expect(j.metric_relabel_configs).toEqual([{ source_labels: ['__name__'], regex: 'go_gc_.*', action: 'drop' }]);
    expect(JSON.stringify(doc)).not.toContain('retention');
  });

  it('passes promtool check config (rule files resolved relative to the config) and promtool check rules', () => {
    const dir = newDir('prom');
    writeFiles(dir, renderMonitoring(full()));
    const cfg = run('promtool', ['check', 'config', path.join(dir, 'prometheus/prometheus.yml')]);
    expect(cfg.status, cfg.stdout + cfg.stderr).toBe(0);
    expect(cfg.stdout).toContain('SUCCESS: 2 rule files found');
    const rules = run('promtool', ['check', 'rules', path.join(dir, 'prometheus/rules/alerts.yml'), path.join(dir, 'prometheus/rules/recording.yml')]);
    expect(rules.status, rules.stdout + rules.stderr).toBe(0);
    expect(rules.stdout).toContain('SUCCESS: 10 rules found');
    expect(rules.stdout).toContain('SUCCESS: 13 rules found');
  });

  it('promtool check config fails when a rule file is missing (the check is real)', () => {
    const dir = newDir('prom-missing');
    writeFiles(dir, renderMonitoring(full()).filter((f) => f.path !== 'prometheus/rules/recording.yml'));
    const cfg = run('promtool', ['check', 'config', path.join(dir, 'prometheus/prometheus.yml')]);
    expect(cfg.status).not.toBe(0);
  });

  it('has the alerts with severity, environment and summary/description', () => {
    const doc = parse(byPath(renderMonitoring(full()))['prometheus/rules/alerts.yml']) as any;
    const rules = doc.groups.flatMap((g: any) => g.rules);
    expect(rules.map((r: any) => `${r.alert}:${r.labels.severity}`)).toEqual([
      'WebDown:critical', 'PostgresDown:critical', 'RedisDown:critical',
      'HighErrorRate:warning', 'HighLatencyP95:warning', 'HighDatabaseConnections:warning', 'WorkerBacklog:warning',
      'ContainerHighCPU:warning', 'ContainerHighMemory:warning', 'DiskSpaceLow:warning',
    ]);
    for (const r of rules) {
      expect(r.labels.environment).toBe('local');
      expect(r.annotations.summary).toBeTruthy();
      expect(r.annotations.description).toBeTruthy();
    }
    const rec = parse(byPath(renderMonitoring(full()))['prometheus/rules/recording.yml']) as any;
    const names = rec.groups[0].rules.map((r: any) => r.record);
    for (const n of ['job:http_requests:rate5m', 'job_status:http_requests:rate5m', 'job:http_request_duration_seconds:p95_5m', 'job:http_request_duration_seconds:p99_5m', 'instance:pg_stat_activity_count:sum', 'name:container_cpu_usage_seconds:rate5m', 'name:container_memory_working_set_bytes:sum']) {
      expect(names).toContain(n);
    }
  });
});

describe('alertmanager/alertmanager.yml', () => {
  const render = (stack = full()) => {
    const dir = newDir('am');
    writeFiles(dir, renderMonitoring(stack));
    return path.join(dir, 'alertmanager/alertmanager.yml');
  };
  const routes = (file: string, labels: string[]) =>
    execFileSync('amtool', ['config', 'routes', 'test', `--config.file=${file}`, ...labels], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();

  it('passes amtool check-config, with and without Slack/PagerDuty configured', () => {
    for (const stack of [full(), production(), loadDemoWith('monitoring: {}\n')]) {
      const r = run('amtool', ['check-config', render(stack)]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('SUCCESS');
    }
  });

  it('amtool check-config rejects an unknown field (so routing_key_file is really accepted by 0.25)', () => {
    const file = render();
    writeFileSync(file, readFileSync(file, 'utf8').replace('routing_key_file:', 'routing_key_filez:'));
    expect(run('amtool', ['check-config', file]).status).not.toBe(0);
  });

  it('reads secrets from files, never from the stack values', () => {
    const doc = parse(readFileSync(render(), 'utf8')) as any;
    expect(doc.global.slack_api_url_file).toBe('/etc/alertmanager/secrets/slack_webhook_url');
    expect(doc.global.slack_api_url).toBeUndefined();
    const pd = doc.receivers.find((r: any) => r.name === 'pagerduty').pagerduty_configs[0];
    expect(pd.routing_key_file).toBe('/etc/alertmanager/secrets/pagerduty_routing_key');
    expect(pd.routing_key).toBeUndefined();
  });

  it('groups and routes: critical pages and goes to Slack, warning to Slack, non-production to its own channel', () => {
    const doc = parse(readFileSync(render(), 'utf8')) as any;
    expect(doc.route.group_by).toEqual(['alertname', 'environment', 'severity']);
    expect([doc.route.group_wait, doc.route.group_interval, doc.route.repeat_interval]).toEqual(['30s', '5m', '4h']);
    const prod = render(production());
    expect(routes(prod, ['severity=critical', 'environment=production'])).toBe('pagerduty,slack');
    expect(routes(prod, ['severity=warning', 'environment=production'])).toBe('slack');
    expect(routes(prod, ['severity=critical', 'environment=local'])).toBe('slack-nonproduction');
    expect(routes(prod, ['severity=warning', 'environment=local'])).toBe('slack-nonproduction');
    const channels = Object.fromEntries((parse(readFileSync(prod, 'utf8')) as any).receivers.filter((r: any) => r.slack_configs).map((r: any) => [r.name, r.slack_configs[0].channel]));
    expect(channels).toEqual({ slack: '#alerts', 'slack-nonproduction': '#alerts-nonprod' });
  });

  it('without a PagerDuty key, critical goes to Slack only', () => {
    const stack = loadDemoWith(FULL_MONITORING.replace('    pagerduty_routing_key: ${PAGERDUTY_ROUTING_KEY}\n', ''), 'production');
    const file = render(stack);
    expect(routes(file, ['severity=critical', 'environment=production'])).toBe('slack');
    expect(readFileSync(file, 'utf8')).not.toContain('pagerduty');
  });

  it('inhibits warnings while a critical alert of the same family and environment fires', () => {
    const doc = parse(readFileSync(render(), 'utf8')) as any;
    expect(doc.inhibit_rules[0]).toEqual({ source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: ['family', 'environment'] });
    expect(doc.inhibit_rules[1].equal).toEqual(['alertname', 'environment', 'instance']);
  });
});

describe('grafana provisioning', () => {
  const files = () => byPath(renderMonitoring(full()));

  it('provisions Prometheus (default), Alertmanager and Loki data sources and a file provider', () => {
    const ds = parse(files()['grafana/provisioning/datasources/datasources.yml']) as any;
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources.map((d: any) => [d.name, d.type, d.url, d.isDefault ?? false])).toEqual([
      ['Prometheus', 'prometheus', 'http://prometheus:9090', true],
      ['Alertmanager', 'alertmanager', 'http://alertmanager:9093', false],
      ['Loki', 'loki', 'http://loki:3100', false],
    ]);
    const prov = parse(files()['grafana/provisioning/dashboards/dashboards.yml']) as any;
    expect(prov.providers[0]).toMatchObject({ type: 'file', options: { path: '/etc/grafana/provisioning/dashboards' } });
  });

  it('the overview dashboard is 2-space JSON with the nine LifeOS panels and stable ids', () => {
    const text = files()['grafana/provisioning/dashboards/demo-overview.json'];
    const dash = JSON.parse(text);
    expect(text).toBe(JSON.stringify(dash, null, 2) + '\n');
    expect(dash.uid).toBe('demo-overview');
    expect(dash.panels.map((p: any) => p.title)).toEqual([
      'Request Rate (5m)', 'Response Time (p95, p99)', 'Error Rate (5xx, 4xx)', 'Database Connections', 'Cache Hit Rate',
      'Outbox Messages Pending', 'Container CPU', 'Container Memory', 'Worker Processing Lag',
    ]);
    expect(dash.panels.map((p: any) => p.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(dash.panels.map((p: any) => p.type)).toEqual(['timeseries', 'timeseries', 'timeseries', 'gauge', 'gauge', 'stat', 'timeseries', 'timeseries', 'timeseries']);
    for (const p of dash.panels) {
      expect(p.targets.length).toBeGreaterThan(0);
      expect(p.datasource.uid).toBe('prometheus');
    }
  });

  it('every dashboard query parses as PromQL (promtool)', () => {
    const dash = JSON.parse(files()['grafana/provisioning/dashboards/demo-overview.json']);
    const dir = newDir('grafana-promql');
    const rules = { groups: [{ name: 'dashboard', rules: dash.panels.flatMap((p: any) => p.targets.map((t: any, i: number) => ({ record: `dashboard:panel${p.id}_${i}`, expr: t.expr }))) }] };
    const file = path.join(dir, 'dashboard-queries.yml');
    writeFileSync(file, JSON.stringify(rules));
    const r = run('promtool', ['check', 'rules', file]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(existsSync(file)).toBe(true);
  });
});
