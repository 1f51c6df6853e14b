// Malformed and hostile stack files, table-driven. Each must be refused as a
// ConfigError (exit 2) whose first line names file:line:col and the key,
// whether the loader or a renderer finds it; none may render, and the CLI
// must print no stack trace and write nothing.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync, readdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStack } from '../../src/config/load.js';
import { renderAll } from '../../src/render/index.js';
import { ConfigError } from '../../src/errors.js';
import { lifeops } from '../helpers.js';

const ENV = { POSTGRES_PASSWORD: 'dummy-postgres-password-0123456789' };

const BASE = `name: shop
default_environment: local
services:
  db: { role: postgres, image: postgres:16, environment: { POSTGRES_PASSWORD: "\${POSTGRES_PASSWORD}" } }
  cache: { role: redis, image: redis:7 }
  web:
    role: web
    image: shop/web:1
    http: { port: 8000 }
  front: { role: front, image: "nginx:1.25", ports: ["127.0.0.1:8080:80"] }
postgres: { service: db, password: "\${POSTGRES_PASSWORD}", database: shop }
redis: { service: cache }
front:
  service: front
  domains:
    - { name: shop.example.com, upstream: web }
environments:
  local: {}
`;

/** BASE with one line replaced (the `needle` must occur once). */
const edit = (needle: string, replacement: string) => {
  if (BASE.split(needle).length !== 2) throw new Error(`needle not unique: ${needle}`);
  return BASE.replace(needle, replacement);
};

let bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
for (let i = 1; i < 9; i++) {
  const p = String.fromCharCode(96 + i);
  const c = String.fromCharCode(97 + i);
  bomb += `${c}: &${c} [${Array(9).fill(`*${p}`).join(',')}]\n`;
}

interface Case {
  name: string;
  text: string | Buffer;
  /** the key path the message must name (after file:line:col) */
  key: string;
  /** more text the message must hold */
  says?: RegExp;
  files?: Record<string, string>;
  /** the line the message must point at (an overlay's problem: the overlay's line, not the base's) */
  line?: number;
}

/** BASE with the local environment's overlay set to `overlay` (indented under `  local:`; its first line is line 19). */
const overlay = (text: string) => edit('  local: {}', `  local:\n${text.replace(/^/gm, '    ')}`);

const CASES: Case[] = [
  // -- not a stack file at all
  { name: 'empty file', text: '', key: '(top level)', says: /empty/ },
  { name: 'only blanks', text: '\n   \n\t\n', key: '(top level)', says: /empty/ },
  { name: 'only a comment', text: '# nothing here\n', key: '(top level)', says: /must be a mapping/ },
  { name: 'a list at the top', text: '- name: shop\n- services: {}\n', key: '(top level)', says: /must be a mapping/ },
  { name: 'a scalar at the top', text: 'just words\n', key: '(top level)', says: /must be a mapping/ },
  { name: 'not UTF-8 (latin-1 byte in a value)', text: Buffer.concat([Buffer.from('name: shop\ndescription: "caf'), Buffer.from([0xe9]), Buffer.from('"\nservices: {}\n')]), key: 'description', says: /not valid UTF-8 \(byte 0xe9/ },
  { name: 'UTF-16 with a BOM', text: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('name: shop\n', 'utf16le')]), key: '(top level)', says: /not valid UTF-8/ },
  // -- YAML itself
  { name: 'unclosed flow sequence', text: 'name: shop\nservices: [\n', key: 'services', says: /YAML syntax error/ },
  { name: 'bad indentation', text: 'name: shop\nservices:\n  web:\n    image: a\n   role: web\n', key: 'services', says: /YAML syntax error/ },
  { name: 'duplicate top-level key', text: BASE + 'name: other\n', key: 'name', says: /duplicate key/ },
  { name: 'duplicate service', text: edit('  cache: { role: redis, image: redis:7 }\n', '  cache: { role: redis, image: redis:7 }\n  cache: { role: redis, image: redis:6 }\n'), key: 'services.cache', says: /duplicate key/ },
  { name: 'alias to no anchor', text: edit('image: shop/web:1', 'image: *nowhere'), key: 'services.web.image', says: /names no anchor/ },
  { name: 'billion laughs', text: `${BASE}x-bomb:\n  ${bomb.trimEnd().split('\n').join('\n  ')}\n`, key: 'x-bomb', says: /alias bomb/ },
  // -- types and ranges
  { name: "the database's data volume as a file backup", text: edit('  db: { role: postgres, image: postgres:16, environment: { POSTGRES_PASSWORD: "${POSTGRES_PASSWORD}" } }\n', '  db: { role: postgres, image: postgres:16, volumes: ["pgdata:/var/lib/postgresql/data"], environment: { POSTGRES_PASSWORD: "${POSTGRES_PASSWORD}" } }\n') + 'backup: { volumes: [pgdata] }\n', key: 'backup.volumes.0', says: /data volume of the postgres service db; .*pg_dump/ },
  { name: 'services is a boolean', text: edit('services:\n  db:', 'services: true\nx-old:\n  db:'), key: 'services', says: /expected record/ },
  { name: 'replicas is a word', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    replicas: many'), key: 'services.web.replicas' },
  { name: 'replicas is negative', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    replicas: -1'), key: 'services.web.replicas' },
  { name: 'replicas is 1e400 (infinity)', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    replicas: 1e400'), key: 'services.web.replicas' },
  { name: 'http port 99999', text: edit('http: { port: 8000 }', 'http: { port: 99999 }'), key: 'services.web.http.port' },
  { name: 'host port 99999', text: edit('"127.0.0.1:8080:80"', '"127.0.0.1:99999:80"'), key: 'services.front.ports.0', says: /65535/ },
  { name: 'address 999.1.1.1', text: edit('"127.0.0.1:8080:80"', '"999.1.1.1:8080:80"'), key: 'services.front.ports.0', says: /255/ },
  { name: 'memory 0M (unlimited to Docker)', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    resources: { limits: { memory: 0M } }'), key: 'services.web.resources.limits.memory', says: /at least 1 byte/ },
  { name: 'memory 99999999999999999999g', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    resources: { limits: { memory: 99999999999999999999g } }'), key: 'services.web.resources.limits.memory', says: /64 TiB/ },
  { name: 'healthcheck retries 10^9', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    healthcheck: { test: "true", retries: 1000000000 }'), key: 'services.web.healthcheck.retries' },
  { name: 'version 2', text: 'version: 2\n' + BASE, key: 'version' },
  // -- unknown keys
  { name: 'top-level typo', text: BASE + 'moniroting: { enabled: true }\n', key: 'moniroting', says: /did you mean "monitoring"/ },
  { name: 'service key typo', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    healtcheck: { test: "true" }'), key: 'services.web.healtcheck', says: /did you mean "healthcheck"/ },
  { name: 'templates key typo', text: BASE + 'templates:\n  nginx/ngnix.conf: site.tmpl\n', key: 'templates.nginx/ngnix.conf', says: /valid keys: .*nginx\/nginx\.conf/, files: { 'site.tmpl': '{{header}}\n' } },
  { name: 'unknown key in an environment not chosen', text: BASE + '  production:\n    services:\n      web: { replica: 2 }\n', key: 'services.web.replica', says: /environment production.*did you mean "replicas"/ },
  // -- injection in names and domains, $ in values
  { name: 'stack name with a shell command', text: edit('name: shop\n', 'name: "shop; rm -rf /"\n'), key: 'name' },
  { name: 'service name with a semicolon', text: edit('  cache: { role: redis, image: redis:7 }\n', '  cache: { role: redis, image: redis:7 }\n  "x;reboot": { image: busybox }\n'), key: 'services' },
  { name: 'domain that closes the directive', text: edit('name: shop.example.com', 'name: "evil.com; include /etc/passwd"'), key: 'front.domains.0.name' },
  { name: 'domain with a newline', text: edit('name: shop.example.com', 'name: "evil.com\\n    location / { return 200; }"'), key: 'front.domains.0.name' },
  { name: 'network name with a space', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    networks: ["a b"]'), key: 'services.web.networks.0' },
  { name: 'gunicorn worker class as Python code', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    gunicorn: { module: "app:app", worker_class: "sync\\"; import os; os.system(\\"id\\")" }'), key: 'services.web.gunicorn.worker_class' },
  { name: 'CSP with a double quote', text: BASE.replace('front:\n  service: front', 'front:\n  service: front\n  security_headers: { content_security_policy: "default-src \\"x" }'), key: 'front.security_headers.content_security_policy' },
  { name: 'postgres tuning value with a newline (found by the renderer)', text: edit('database: shop }', 'database: shop, tuning: { work_mem: "4MB\\nlisten_addresses = \'*\'" } }'), key: 'postgres.tuning.work_mem', says: /newline/ },
  { name: 'unterminated ${', text: edit('image: shop/web:1', 'image: "shop/web:${VERSION"'), key: 'services.web.image', says: /bad variable reference/ },
  { name: '${} with a bad name', text: edit('image: shop/web:1', 'image: "shop/web:${1X}"'), key: 'services.web.image', says: /bad variable reference/ },
  { name: 'a variable set nowhere', text: edit('image: shop/web:1', 'image: "shop/web:${WEB_VERSON}"'), key: 'services.web.image', says: /variable not set: WEB_VERSON.*variables\.defaults/ },
  { name: '${VAR:?} unset', text: edit('image: shop/web:1', 'image: "shop/web:${TAG:?set TAG to the release}"'), key: 'services.web.image', says: /set TAG to the release/ },
  { name: 'project name in upper case', text: edit('name: shop\n', 'name: shop\nproject: "Shop Prod"\n'), key: 'project' },
  // -- paths that leave the stack's folder
  { name: 'template outside the stack folder', text: BASE + 'templates:\n  nginx/nginx.conf: ../../../../etc/passwd\n', key: 'templates.nginx/nginx.conf', says: /outside the stack file's folder/ },
  { name: 'template at an absolute path', text: BASE + 'templates:\n  redis/redis.conf: /etc/shadow\n', key: 'templates.redis/redis.conf', says: /outside the stack file's folder/ },
  { name: 'static root climbing out', text: edit('- { name: shop.example.com, upstream: web }', '- { name: shop.example.com, upstream: web, static: { location: /static/, root: ../../../../etc } }'), key: 'front.domains.0.static.root', says: /without "\.\."/ },
  { name: 'service env_file that does not exist', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    env_file: ../../../../nonexistent/app.env'), key: 'services.web.env_file.0', says: /does not exist/ },
  { name: "environment's env_file that does not exist", text: edit('  local: {}', '  local: { env_file: .env.local }'), key: 'environments.local.env_file', says: /\.env\.local does not exist/ },
  // -- silent overrides
  { name: 'undeclared network', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    networks: [frontend]'), key: 'services.web.networks.0', says: /declared: none/ },
  {
    name: 'a service named like a monitoring one',
    text: edit('  cache: { role: redis, image: redis:7 }\n', '  cache: { role: redis, image: redis:7 }\n  prometheus: { image: prom/prometheus }\n') + 'monitoring: { enabled: true }\n',
    key: 'services.prometheus',
    says: /reserved while monitoring is on: prometheus, alertmanager, grafana/,
  },
  { name: 'front.service naming a web service', text: edit('  service: front', '  service: web'), key: 'front.service', says: /is a web service/ },
  { name: 'redis command as a shell pipeline', text: edit('cache: { role: redis, image: redis:7 }', 'cache: { role: redis, image: redis:7, command: "redis-server $(cat /etc/passwd)" }'), key: 'services.cache.command', says: /shell command/ },
  // -- found by hand (issue 12's second pass)
  { name: '"wbe" for web: did you mean web, not db', text: edit('upstream: web }', 'upstream: wbe }'), key: 'front.domains.0.upstream', says: /did you mean "web"/ },
  { name: 'depends_on "wbe": did you mean web', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    depends_on: { wbe: started }'), key: 'services.web.depends_on.wbe', says: /did you mean "web"/ },
  { name: 'an environment variable named __proto__', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    environment: { __proto__: x }'), key: 'services.web.environment.__proto__', says: /__proto__ cannot be carried/ },
  { name: 'an upper-case domain (the JSON Schema forbids it)', text: edit('name: shop.example.com', 'name: Shop.Example.com'), key: 'front.domains.0.name', says: /lower case/ },
  { name: 'shm_size as a list (was rendered as 1)', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    shm_size: [1]'), key: 'services.web.shm_size', says: /found a list; valid: a string or a number/ },
  { name: 'http port as a list (was read as 8000)', text: edit('http: { port: 8000 }', 'http: { port: [8000] }'), key: 'services.web.http.port', says: /expected number, found a list/ },
  { name: 'replicas true (was read as 1)', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    replicas: true'), key: 'services.web.replicas', says: /found boolean/ },
  { name: 'healthcheck retries "" (was read as 0)', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    healthcheck: { test: "true", retries: "" }'), key: 'services.web.healthcheck.retries', says: /found ""/ },
  { name: 'gunicorn workers a word', text: edit('    http: { port: 8000 }', '    http: { port: 8000 }\n    gunicorn: { module: "a:b", workers: many }'), key: 'services.web.gunicorn.workers', says: /valid: "auto" or a number/ },
  // -- in an environment's overlay: the overlay's line
  { name: 'overlay: a word for replicas', text: overlay('services:\n  web: { replicas: many }'), key: 'services.web.replicas', line: 20 },
  { name: 'overlay: a key typo', text: overlay('services:\n  web: { replica: 2 }'), key: 'services.web.replica', says: /did you mean "replicas"/, line: 20 },
  { name: 'overlay: a variable set nowhere', text: overlay('services:\n  web: { image: "shop/web:${NOPE}" }'), key: 'services.web.image', says: /variable not set: NOPE/, line: 20 },
  { name: 'overlay: an upstream typo', text: overlay('front:\n  domains:\n    - { name: shop.example.com, upstream: wbe }'), key: 'front.domains.0.upstream', says: /did you mean "web"/, line: 21 },
  { name: 'overlay: an undeclared network', text: overlay('services:\n  web: { networks: [nope] }'), key: 'services.web.networks.0', line: 20 },
  { name: 'overlay: memory 0M', text: overlay('services:\n  web: { resources: { limits: { memory: 0M } } }'), key: 'services.web.resources.limits.memory', line: 20 },
  { name: 'overlay: a Redis flag the redis: block owns', text: overlay('services:\n  cache: { command: "redis-server --maxmemory 1gb" }'), key: 'services.cache.command', line: 20 },
  { name: 'overlay: a compose key of the wrong type', text: overlay('services:\n  web: { cap_add: 5 }'), key: 'services.web.cap_add', says: /Compose Specification/, line: 20 },
  { name: 'overlay: __proto__', text: overlay('services:\n  web: { environment: { __proto__: x } }'), key: 'environments.local.services.web.environment.__proto__', line: 20 },
];

function write(c: Case, i: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `lifeops-hostile-${i}-`));
  const file = path.join(dir, 'stack.yaml');
  writeFileSync(file, c.text);
  for (const [p, content] of Object.entries(c.files ?? {})) {
    mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    writeFileSync(path.join(dir, p), content);
  }
  return file;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('hostile stack files', () => {
  it('the table holds at least 30 cases with distinct names', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  CASES.forEach((c, i) => {
    it(`${c.name}: a ConfigError naming file:line:col and ${c.key}, nothing rendered`, () => {
      const file = write(c, i);
      let error: unknown;
      let rendered = false;
      try {
        const stack = loadStack({ file, processEnv: { ...ENV } });
        renderAll(stack, { renderDir: path.join(path.dirname(file), 'out') });
        rendered = true;
      } catch (e) {
        error = e;
      }
      expect(rendered, 'rendered without an error').toBe(false);
      expect(error, String((error as Error)?.stack)).toBeInstanceOf(ConfigError);
      const e = error as ConfigError;
      expect(e.exitCode).toBe(2);
      const first = e.message.split('\n')[0];
      expect(first).toMatch(new RegExp(`^${escape(file)}:\\d+:\\d+: ${escape(c.key)}[.:]`));
      if (c.says) expect(e.message).toMatch(c.says);
      if (c.line) expect(first).toMatch(new RegExp(`^${escape(file)}:${c.line}:\\d+: `));
      expect(e.message).not.toContain(ENV.POSTGRES_PASSWORD);
    });
  });

  it('through the CLI: every case exits 2 with file:line, no stack trace, and writes nothing', async () => {
    const runs = CASES.map((c, i) => ({ c, file: write(c, 100 + i) }));
    const results: { name: string; exitCode: number; stderr: string; wrote: boolean; file: string }[] = [];
    for (let k = 0; k < runs.length; k += 8) {
      const batch = runs.slice(k, k + 8);
      results.push(
        ...(await Promise.all(
          batch.map(async ({ c, file }) => {
            const out = path.join(path.dirname(file), 'out');
            const r = await lifeops(['-f', file, 'render', '--out', out], { env: { ...ENV } });
            return { name: c.name, exitCode: r.exitCode ?? -1, stderr: r.stderr, wrote: existsSync(out) && readdirSync(out).length > 0, file };
          }),
        )),
      );
    }
    for (const r of results) {
      expect(r.exitCode, `${r.name}: ${r.stderr}`).toBe(2);
      expect(r.stderr, r.name).toContain(`${r.file}:`);
      expect(r.stderr, r.name).not.toMatch(/\n\s+at /);
      expect(r.wrote, r.name).toBe(false);
    }
  }, 300_000);
});
