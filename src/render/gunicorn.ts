// gunicorn/<service>.conf.py for every service with a `gunicorn:` block.
// Strings are written as JSON string literals, which Python reads as the same
// str (the schema already limits them to safe tokens).
import type { Stack, Gunicorn } from '../config/schema.js';
import type { RenderedFile, RenderContext } from './types.js';
import { renderTemplate } from './templates.js';
import { renderedHeader } from './header.js';

/** Where compose mounts the rendered config inside a gunicorn service. */
export const GUNICORN_CONF = '/etc/gunicorn/gunicorn.conf.py';
export const GUNICORN_LOGGING_CONF = '/etc/gunicorn/logging.conf';

const py = (s: string) => JSON.stringify(s);
const pyBool = (b: boolean) => (b ? 'True' : 'False');

// JSON access log (gunicorn atoms); %(...)s is gunicorn's own format syntax.
const ACCESS_JSON =
  '{"time": "%(t)s", "remote_addr": "%(h)s", "method": "%(m)s", "path": "%(U)s", "query": "%(q)s", ' +
  '"status": "%(s)s", "bytes": "%(B)s", "duration_us": "%(D)s", "referer": "%(f)s", ' +
  '"user_agent": "%(a)s", "request_id": "%({x-request-id}i)s", "pid": "%(p)s"}';

export function gunicornConf(stack: Stack, service: string, g: Gunicorn): string {
  const statsd: string[] = [];
  if (g.statsd_host) {
    statsd.push(`statsd_host = ${py(g.statsd_host)}`);
    statsd.push(`statsd_prefix = ${py(g.statsd_prefix ?? service)}`);
  }
  return renderTemplate(stack, `gunicorn/${service}.conf.py`, 'gunicorn/gunicorn.conf.py', {
    header: renderedHeader(stack),
    service,
    module: g.module,
    bind: py(g.bind),
    workers: g.workers === 'auto' ? 'multiprocessing.cpu_count() * 2 + 1' : String(g.workers),
    threads: g.threads,
    worker_class: py(g.worker_class),
    worker_connections: g.worker_connections,
    timeout: g.timeout,
    graceful_timeout: g.graceful_timeout,
    keepalive: g.keepalive,
    max_requests: g.max_requests,
    max_requests_jitter: g.max_requests_jitter,
    limit_request_line: g.limit_request_line,
    limit_request_fields: g.limit_request_fields,
    limit_request_field_size: g.limit_request_field_size,
    preload_app: pyBool(g.preload_app),
    reuse_port: pyBool(g.reuse_port),
    forwarded_allow_ips: py(g.forwarded_allow_ips),
    access_log_format: g.access_log_json ? `access_log_format = ${py(ACCESS_JSON)}` : '',
    statsd: statsd.length ? '\n' + statsd.join('\n') : '',
  });
}

export function renderGunicorn(stack: Stack, _ctx?: RenderContext): RenderedFile[] {
  return Object.keys(stack.services)
    .sort()
    .filter((name) => stack.services[name].gunicorn)
    .map((name) => ({ path: `gunicorn/${name}.conf.py`, content: gunicornConf(stack, name, stack.services[name].gunicorn!) }));
}
