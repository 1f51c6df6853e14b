// Maintenance mode of the nginx front: the per-request check every rendered
// site carries, and the pages `lifeops maintenance on` writes. Pure.
//
// How it works without a reload: the rendered nginx folder is bind-mounted
// whole into the front (extras.ts NGINX_MOUNTS), so a folder lifeops writes
// under it, nginx/maintenance/, is seen at once. Maintenance is on while the
// symlink maintenance/active points at a folder holding the page: each
// request tests `-f active/index.html` (one stat). The folder's name carries
// the Retry-After seconds (r-<seconds>-<stamp>); nginx reads it back from
// $realpath_root, so changing it needs no reload either. Turning it on or off
// is one rename or unlink of that symlink: atomic.
import type { Stack, Front } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { NGINX_CONF_DIR } from './extras.js';

type Domain = Front['domains'][number];

/** The folder under the render dir (and so under the front's mount) that holds maintenance mode. */
export const MAINTENANCE_DIR = 'nginx/maintenance';
/** Inside the front container. */
export const NGINX_MAINTENANCE_DIR = `${NGINX_CONF_DIR}/maintenance`;
/** The symlink whose presence is maintenance mode. */
export const MAINTENANCE_LINK = 'active';
/** The internal URI nginx serves the page from (never reachable from outside: `internal`). */
export const MAINTENANCE_URI = '/.lifeops-maintenance/';
/** A line every rendered site with the maintenance block carries (the flow checks the config in force for it). */
export const MAINTENANCE_MARKER = '# lifeops maintenance mode';

/** What a request gets when maintenance went off between its check and the read of its page (an unlink between two stats). */
export const SHORT_ANSWER = { text: 'Down for maintenance, ending now: please try again.', json: '{"status":"maintenance","message":"ending now"}', retryAfter: 5 };
export const DEFAULT_MAINTENANCE_MESSAGE = 'This service is down for maintenance. Please try again shortly.';
export const DEFAULT_RETRY_AFTER = 300;
export const MAX_RETRY_AFTER = 7 * 86_400;
export const MAX_MESSAGE_LENGTH = 1000;

/** The state folder's name for a Retry-After value: nginx reads the seconds back from it. */
export const stateFolderName = (retryAfter: number, stamp: string) => `r-${retryAfter}-${stamp}`;
export const STATE_FOLDER_RE = /^r-(\d+)-[A-Za-z0-9]+$/;

/**
 * Why maintenance mode cannot run on this stack, or undefined when it can.
 * The swarm target's refusal is in plan/target-support.ts (with its other refusals).
 */
export function maintenanceUnsupported(stack: Stack): string | undefined {
  const front = stack.front;
  if (!front) return `stack ${stack.name} has no front: maintenance mode is answered by the nginx front (front.kind: nginx), and there is none to answer`;
  if (front.kind !== 'nginx') return `the front of ${stack.name} is ${front.kind}: maintenance mode needs the nginx front (front.kind: nginx), which checks a flag file on every request; Traefik has no such check`;
  return undefined;
}

/** The health paths that keep being proxied in maintenance: the front's own /health and the upstream's http.health and http.ready. */
export function exemptPaths(stack: Stack, d: Domain): string[] {
  const http = stack.services[d.upstream]?.http;
  const paths = [...(d.health === 'front' ? ['/health'] : []), ...(http ? [http.health, ...(http.ready ? [http.ready] : [])] : [])];
  return [...new Set(paths)].sort();
}

/**
 * The lines of a site's server block: the per-request check (server level, so
 * it runs before any location), and the internal location that serves the
 * page. `headers` are the site's security headers (an add_header in a
 * location hides the server's own). Paths were validated by the schema (urlPath).
 */
export function maintenanceServerLines(stack: Stack, d: Domain, headers: string[], exemptPrefixes: string[] = []): string[] {
  const active = `${NGINX_MAINTENANCE_DIR}/${MAINTENANCE_LINK}`;
  return [
    `${MAINTENANCE_MARKER} (lifeops maintenance on|off): while ${active} points at a page,`,
    '# every request but the health paths monitors use is answered 503 with that page; no reload needed.',
    'set $lifeops_maintenance "";',
    // kept through the internal redirect to the page (set only on the request as it came in):
    // the page location tells a maintenance 503 from one nginx made for another reason
    `if ($uri !~ "^${MAINTENANCE_URI.replace(/\./g, '\\.')}") {`,
    '    set $lifeops_decided "";',
    '}',
    `if (-f ${active}/index.html) {`,
    '    set $lifeops_maintenance on;',
    '}',
    ...exemptPaths(stack, d).flatMap((p) => [`if ($uri = ${p}) {`, '    set $lifeops_maintenance "";', '}']),
    ...exemptPrefixes.flatMap((p) => [`if ($uri ~ "^${p.replace(/\./g, '\\.')}") {`, '    set $lifeops_maintenance "";', '}']),
    `if ($uri ~ "^${MAINTENANCE_URI.replace(/\./g, '\\.')}") {`,
    '    set $lifeops_maintenance "";',
    '}',
    'if ($lifeops_maintenance) {',
    '    set $lifeops_decided on;',
    '    return 503;',
    '}',
    // a URI (not a named location): nginx turns the method into GET, so a POST gets the page too
    `error_page 503 ${MAINTENANCE_URI}page;`,
    `location ^~ ${MAINTENANCE_URI} {`,
    '    internal;',
    `    root ${active};`,
    '    set $lifeops_page_gone "";',
    `    if (!-f ${active}/index.html) {`,
    '        set $lifeops_page_gone "gone$lifeops_decided";',
    '    }',
    '    # a 503 nginx makes outside maintenance keeps its plain page',
    '    if ($lifeops_page_gone = "gone") {',
    '        return 503;',
    '    }',
    '    set $lifeops_retry_after "";',
    '    set $lifeops_page /index.html;',
    `    set $lifeops_short "${SHORT_ANSWER.text}";`,
    '    if ($http_accept ~* "application/json") {',
    '        set $lifeops_page /index.json;',
    `        set $lifeops_short '${SHORT_ANSWER.json}';`,
    '    }',
    '    # maintenance went off between this request\'s check and its page: a short maintenance answer',
    '    if ($lifeops_page_gone = "goneon") {',
    `        set $lifeops_retry_after ${SHORT_ANSWER.retryAfter};`,
    '        return 503 $lifeops_short;',
    '    }',
    `    if ($realpath_root ~ "/r-([0-9]+)-[A-Za-z0-9]+$") {`,
    '        set $lifeops_retry_after $1;',
    '    }',
    '    rewrite ^ $lifeops_page break;',
    '    charset utf-8;',
    '    etag off;',
    '    if_modified_since off;',
    '    add_header Retry-After $lifeops_retry_after always;',
    '    add_header Cache-Control "no-store" always;',
    ...headers.map((h) => '    ' + h),
    '}',
  ];
}

/** A message is user input: printable text only, bounded. Throws UsageError (exit 2). */
export function checkMaintenanceMessage(message: string): string {
  // eslint-disable-next-line no-control-regex
  const bad = /[\u0000-\u001f\u007f-\u009f]/.exec(message);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).padStart(4, '0');
    throw new UsageError(`--message holds a control character (U+${code}) at position ${bad.index + 1}; valid: printable text on one line`, 'write the message without newlines, tabs or escape sequences');
  }
  if (!message.trim()) throw new UsageError('--message is empty; valid: printable text, or leave --message out for the default message');
  if (message.length > MAX_MESSAGE_LENGTH) throw new UsageError(`--message is ${message.length} characters long; valid: at most ${MAX_MESSAGE_LENGTH}`);
  return message;
}

/** --retry-after: whole seconds, 1 to a week. Throws UsageError (exit 2). */
export function checkRetryAfter(text: string | number | undefined): number {
  if (text === undefined) return DEFAULT_RETRY_AFTER;
  const s = String(text);
  if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > MAX_RETRY_AFTER) {
    throw new UsageError(`--retry-after must be whole seconds from 1 to ${MAX_RETRY_AFTER}, got "${s}"`);
  }
  return Number(s);
}

export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface MaintenanceRecord {
  since: string;
  message: string;
  retry_after: number;
  /** who turned it on: "lifeops maintenance on", or "deploy run <id>" */
  by: string;
}

/** The files of one state folder: the HTML page, the JSON answer, and the record `status` reads. */
export function maintenancePages(rec: MaintenanceRecord): { name: string; content: string }[] {
  const msg = escapeHtml(rec.message);
  const html = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<title>Down for maintenance</title>',
    '</head>',
    '<body>',
    '<h1>Down for maintenance</h1>',
    `<p>${msg}</p>`,
    `<p>Please try again in ${formatRetry(rec.retry_after)}.</p>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
  const json = JSON.stringify({ status: 'maintenance', message: rec.message, retry_after: rec.retry_after }) + '\n';
  return [
    { name: 'index.html', content: html },
    { name: 'index.json', content: json },
    { name: 'state.json', content: JSON.stringify(rec, null, 1) + '\n' },
  ];
}

function formatRetry(s: number): string {
  if (s < 120) return `${s} seconds`;
  if (s < 7200) return `${Math.round(s / 60)} minutes`;
  return `${Math.round(s / 3600)} hours`;
}
