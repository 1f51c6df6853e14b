// .env.example (every variable the stack references, placeholders only for
// secrets) and a Makefile wrapping lifeops for the stack.
import path from 'node:path';
import type { Stack } from '../config/schema.js';
import type { RenderedFile, RenderContext } from './types.js';
import { renderTemplate } from './templates.js';
import { renderedHeader } from './header.js';
import { BASIC_AUTH_VAR, traefikLabels } from './traefik.js';
import { archiveMount, postgresCommandWithArchive } from './pitr.js';
import { pitrOn } from '../config/pitr-schema.js';
import { serverFrontDir } from '../config/remote-schema.js';
import { POSTGRES_CONF, REDIS_CONF, PGBOUNCER_DIR, REDIS_PASSWORD_ENV, checkRedisPassword, redisCommandWithPassword } from './datastores.js';
import { GUNICORN_CONF, GUNICORN_LOGGING_CONF } from './gunicorn.js';
import { composeValue } from './values.js';
import { isSecretName } from '../util/redact.js';
import { ConfigError } from '../errors.js';
import { ACME_CERTS, ACME_WEBROOT } from './front.js';

export const HTPASSWD_VAR = 'NGINX_AUTH_FILE';
const SECRET_PLACEHOLDER = 'change-me';
const VAR_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)/g;

/** Variables the stack references: required, defaults, declared secrets, and those behind secret values. */
export function referencedVariables(stack: Stack): string[] {
  const names = new Set<string>([...stack.variables.required, ...Object.keys(stack.variables.defaults), ...stack.variables.secrets]);
  for (const t of Object.values(stack.secretTemplates)) for (const m of t.matchAll(VAR_REF)) names.add(m[1]);
  const front = stack.front;
  if (front?.domains.some((d) => d.basic_auth)) names.add(front.kind === 'traefik' ? BASIC_AUTH_VAR : HTPASSWD_VAR);
  if (stack.backup.encryption_key_env) names.add(stack.backup.encryption_key_env);
  return [...names].sort();
}

export function isSecretVar(stack: Stack, name: string): boolean {
  return stack.secretNames.includes(name) || stack.variables.secrets.includes(name) || isSecretName(name) || name === BASIC_AUTH_VAR;
}

/** Double-quoted env-file value (for non-secret defaults only). */
const envQuote = (v: string) => (/^[A-Za-z0-9_.:\/@+=,-]*$/.test(v) ? v : JSON.stringify(v));

export function renderEnvExample(stack: Stack): string {
  const lines: string[] = [];
  for (const name of referencedVariables(stack)) {
    const secret = isSecretVar(stack, name);
    const required = stack.variables.required.includes(name);
    const note = [secret ? 'secret' : '', required ? 'required' : name in stack.variables.defaults ? 'has a default' : ''].filter(Boolean).join(', ');
    if (note) lines.push(`# ${name}: ${note}`);
    if (secret) lines.push(`${name}=${SECRET_PLACEHOLDER}`);
    else if (name === HTPASSWD_VAR) lines.push(`${name}=./htpasswd`);
    else lines.push(`${name}=${name in stack.variables.defaults ? envQuote(stack.variables.defaults[name]) : ''}`);
  }
  return renderTemplate(stack, '.env.example', 'env.example', { header: renderedHeader(stack), stack: stack.name, variables: lines.join('\n') });
}

// Not one key: the stack file's own path, as the Makefile in the render dir names it.
const makeSafe = (stack: Stack, s: string) => {
  if (!/^[A-Za-z0-9_.\/+-]+$/.test(s)) {
    throw new ConfigError(
      `${stack.file}: the Makefile would name the stack file "${s}" (from the render folder), which has characters make cannot take; valid: letters, digits and _ . / + -`,
      'rename or move the stack file (or the state dir) to a path without spaces or other special characters',
    );
  }
  return s;
};

export function renderMakefile(stack: Stack, ctx: RenderContext): string {
  const stackFile = path.relative(ctx.renderDir, path.join(stack.baseDir, path.basename(stack.file))).split(path.sep).join('/') || path.basename(stack.file);
  return renderTemplate(stack, 'Makefile', 'Makefile', {
    header: renderedHeader(stack),
    stack: stack.name,
    lifeops: 'lifeops',
    stack_file: makeSafe(stack, stackFile),
    default_env: stack.env,
  });
}

export function renderExtras(stack: Stack, ctx: RenderContext): RenderedFile[] {
  return [
    { path: '.env.example', content: renderEnvExample(stack) },
    { path: 'Makefile', content: renderMakefile(stack, ctx) },
  ];
}

// ---------------------------------------------------------------------------
// Compose wiring: mount the rendered files into the services that read them.
// Called by compose.ts for every service; mounts are relative to the render
// dir (where docker-compose.yml is written).

/**
 * The rendered nginx folder is mounted whole and nginx is started with -c on
 * it: a single-file bind mount would keep showing the old file after lifeops
 * replaces it atomically (rename), and the graceful reload would see nothing new.
 */
export const NGINX_CONF_DIR = '/etc/nginx/lifeops';
export const NGINX_CONF = `${NGINX_CONF_DIR}/nginx.conf`;
export const NGINX_MOUNTS = [`./nginx:${NGINX_CONF_DIR}:ro`];

/** Insert `args` after the program name of an exec-form command, or build one. */
function withArgs(command: unknown, program: string, fallback: string[], args: string[]): unknown {
  if (command === undefined) return [...fallback, ...args];
  if (Array.isArray(command) && command[0] === program) return [command[0], ...args, ...command.slice(1)];
  return command; // a shell-form or foreign command: left as the stack wrote it
}

export function applyRenderedMounts(stack: Stack, name: string, out: Record<string, unknown>): void {
  const svc = stack.services[name];
  const volumes = [...((out.volumes as string[] | undefined) ?? [])];
  const front = stack.front;
  if (front && front.service === name) {
    if (front.kind === 'nginx') {
      // on a server over SSH, the fixed folder each release switch updates in place (config/remote-schema.ts)
      volumes.push(...(stack.host ? [`${serverFrontDir(stack)}:${NGINX_CONF_DIR}:ro`] : NGINX_MOUNTS));
      out.command = withArgs(out.command, 'nginx', ['nginx', '-g', 'daemon off;'], ['-c', NGINX_CONF]);
      const tls = front.domains.some((d) => d.tls ?? front.tls.enabled);
      if (tls && front.tls.acme) {
        // the state dir's acme/<env>/ seen from render/<env>/, where compose runs (state/paths.ts)
        const acme = `../../acme/${stack.env}`;
        volumes.push(`${acme}/live:${ACME_CERTS}:ro`, `${acme}/webroot:${ACME_WEBROOT}:ro`);
      } else if (tls) {
        if (front.tls.certs_dir.startsWith('/etc/letsencrypt/')) volumes.push('/etc/letsencrypt:/etc/letsencrypt:ro');
        volumes.push(`${ACME_WEBROOT}:${ACME_WEBROOT}:ro`);
      }
      if (front.domains.some((d) => d.basic_auth)) volumes.push(`\${${HTPASSWD_VAR}:-./htpasswd}:/etc/nginx/htpasswd:ro`);
    } else {
      volumes.push('./traefik/traefik.yml:/etc/traefik/traefik.yml:ro', '/var/run/docker.sock:/var/run/docker.sock:ro', './letsencrypt:/letsencrypt');
    }
  }
  if (front?.kind === 'traefik') {
    const labels = traefikLabels(stack)[name];
    if (labels) out.labels = { ...(out.labels as Record<string, string>), ...labels };
  }
  if (stack.postgres && !stack.postgres.external_url && stack.postgres.service === name) {
    volumes.push(`./postgres/postgresql.conf:${POSTGRES_CONF}:ro`);
    out.command = withArgs(out.command, 'postgres', ['postgres'], ['-c', `config_file=${POSTGRES_CONF}`]);
    if (pitrOn(stack)) {
      // the WAL archive beside the data directory, made the postgres user's at each start (render/pitr.ts)
      volumes.push(archiveMount());
      if (Array.isArray(out.command)) out.command = postgresCommandWithArchive(out.command as string[]);
    }
  }
  if (stack.redis && stack.redis.service === name) {
    volumes.push(`./redis/redis.conf:${REDIS_CONF}:ro`);
    out.command = withArgs(out.command, 'redis-server', ['redis-server'], [REDIS_CONF]);
    if (stack.redis.password) {
      // through the environment and a file the server reads, never its argv (datastores.ts)
      checkRedisPassword(stack.redis.password);
      if (Array.isArray(out.command)) out.command = redisCommandWithPassword(out.command as string[]);
      const env = { ...((out.environment as Record<string, string> | undefined) ?? {}), [REDIS_PASSWORD_ENV]: composeValue(stack, 'redis.password', stack.redis.password) };
      out.environment = Object.fromEntries(Object.entries(env).sort(([a], [b]) => a.localeCompare(b)));
    }
  }
  if (stack.pgbouncer && stack.pgbouncer.service === name) {
    volumes.push(`./pgbouncer/pgbouncer.ini:${PGBOUNCER_DIR}/pgbouncer.ini:ro`);
    // the image's entrypoint writes its userlist from these (edoburu/pgbouncer's contract);
    // the stack's own values win, the password stays a ${VAR} reference
    const pg = stack.postgres;
    const env = { ...((out.environment as Record<string, string> | undefined) ?? {}) };
    if (pg && !env.DATABASE_URL) {
      env.DB_USER ??= pg.user;
      if (pg.password !== undefined) env.DB_PASSWORD ??= composeValue(stack, 'postgres.password', pg.password);
    }
    env.AUTH_TYPE ??= 'scram-sha-256';
    out.environment = Object.fromEntries(Object.entries(env).sort(([a], [b]) => a.localeCompare(b)));
  }
  if (svc?.gunicorn) {
    volumes.push(`./gunicorn/${name}.conf.py:${GUNICORN_CONF}:ro`, `./logging.conf:${GUNICORN_LOGGING_CONF}:ro`);
    if (out.command === undefined) out.command = ['gunicorn', '-c', GUNICORN_CONF, svc.gunicorn.module];
  }
  if (volumes.length) out.volumes = volumes;
}
