// What the import corpus (test/fixtures/corpus/) found, one test each, in the
// smallest compose setup that shows it (the corpus test runs the whole
// projects). Pure: importCompose on text, the stack loaded as lifeops loads it.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { importCompose, hideValue } from '../../src/import/compose.js';
import { loadStack } from '../../src/config/load.js';

type Json = Record<string, any>;

function importText(compose: string, env?: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeops-corpus-fix-'));
  mkdirSync(path.join(dir, 'app'));
  mkdirSync(path.join(dir, 'ops'));
  const composeFile = path.join(dir, 'app', 'compose.yaml');
  writeFileSync(composeFile, compose);
  const outFile = path.join(dir, 'ops', 'stack.yaml');
  const result = importCompose({ composeText: compose, composeFile, envText: env, envFile: env === undefined ? undefined : path.join(dir, 'app', '.env'), processEnv: {}, outFile, envFileName: 'stack.env' });
  writeFileSync(outFile, result.stack);
  writeFileSync(path.join(dir, 'ops', 'stack.env'), result.env);
  const stack = loadStack({ file: outFile, processEnv: {}, env: 'production' });
  return { result, doc: parse(result.stack) as Json, stack };
}

describe('found by the import corpus', () => {
  it('sentry: healthcheck timings and retries taken from .env (bare $VAR) are read at import, with a comment', () => {
    const { doc, stack } = importText(
      'x-hc: &hc\n  interval: "$HEALTHCHECK_INTERVAL"\n  timeout: "${HEALTHCHECK_TIMEOUT}"\n  retries: $HEALTHCHECK_RETRIES\nservices:\n  cache:\n    image: memcached:1.6\n    healthcheck:\n      <<: *hc\n      test: echo stats | nc 127.0.0.1 11211\n',
      'HEALTHCHECK_INTERVAL=30s\nHEALTHCHECK_TIMEOUT=1m30s\nHEALTHCHECK_RETRIES=10\n',
    );
    expect(doc.services.cache.healthcheck).toMatchObject({ interval: '30s', timeout: '90s', retries: 10 });
    expect(stack.services.cache.healthcheck).toMatchObject({ interval: '30s', timeout: '90s', retries: 10 });
  });

  it('plausible: a password that is a plain word ("postgres") is not taken for a secret where the command names a user', () => {
    const { doc } = importText('services:\n  db:\n    image: postgres:16\n    environment:\n      - POSTGRES_PASSWORD=postgres\n    healthcheck:\n      test: ["CMD-SHELL", "pg_isready -U postgres"]\n');
    expect(doc.services.db.healthcheck.test).toEqual(['CMD-SHELL', 'pg_isready -U postgres']);
    expect(doc.services.db.environment.POSTGRES_PASSWORD).toBe('${POSTGRES_PASSWORD}');
  });

  it('a secret in a command is still hidden where a password is given, plain word or not', () => {
    expect(hideValue('redis-server --requirepass paperless --appendonly yes', 'paperless', '${P}')).toBe('redis-server --requirepass ${P} --appendonly yes');
    expect(hideValue('mysqladmin ping -ppaperless', 'paperless', '${P}')).toBe('mysqladmin ping -p${P}');
    expect(hideValue('psql postgres://paperless:paperless@db/paperless', 'paperless', '${P}')).toBe('psql postgres://paperless:${P}@db/paperless');
    expect(hideValue('psql -U paperless', 'paperless', '${P}')).toBe('psql -U paperless');
    expect(hideValue('check --token=x9-Long-Secret-1 -u x9-Long-Secret-1', 'x9-Long-Secret-1', '${T}')).toBe('check --token=${T} -u ${T}');
  });
});

describe('found by the import corpus: paths and ports in variables', () => {
  it('airflow: a bind mount under ${DIR:-.} (DIR unset) keeps pointing at the compose folder', () => {
    const { doc, stack } = importText('x-common: &common\n  image: apache/airflow:3\n  volumes:\n    - ${AIRFLOW_PROJ_DIR:-.}/dags:/opt/airflow/dags\n    - type: bind\n      source: ${AIRFLOW_PROJ_DIR-.}/logs\n      target: /opt/airflow/logs\nservices:\n  worker:\n    <<: *common\n');
    expect(doc.services.worker.volumes).toEqual(['${AIRFLOW_PROJ_DIR:-../app}/dags:/opt/airflow/dags', '${AIRFLOW_PROJ_DIR-../app}/logs:/opt/airflow/logs']);
    expect(stack.services.worker.volumes[0]).toBe('../app/dags:/opt/airflow/dags');
  });

  it('rocketchat: expose: [${PORT:-3000}] is read as compose reads it', () => {
    const { doc } = importText('services:\n  chat:\n    image: rocketchat\n    expose:\n      - ${PORT:-3000}\n      - "9458/tcp"\n');
    expect(doc.services.chat.expose).toEqual([3000, 9458]);
  });
});

describe('found by the import corpus: names', () => {
  it('jitsi: a network named with a dot (meet.jitsi), as a list and as a mapping with aliases, loads', () => {
    const { stack } = importText('services:\n  web:\n    image: jitsi/web\n    networks:\n      meet.jitsi:\n  prosody:\n    image: jitsi/prosody\n    networks:\n      meet.jitsi:\n        aliases: [xmpp.meet.jitsi]\nnetworks:\n  meet.jitsi:\n');
    expect(stack.services.web.networks).toEqual(['meet.jitsi']);
    expect(Object.keys(stack.networks)).toEqual(['meet.jitsi']);
  });
});

describe('found by the import corpus: the project name', () => {
  it('traefik-configs: ${COMPOSE_PROJECT_NAME} that .env does not set is the project name, as compose reads it', () => {
    const { result, stack } = importText('services:\n  web:\n    image: nginx\n    environment:\n      ORIGIN: ${COMPOSE_PROJECT_NAME}-web\n');
    expect(result.env).toContain("COMPOSE_PROJECT_NAME='app'");
    expect(stack.services.web.environment.ORIGIN).toBe('app-web');
    expect(result.notes.join('\n')).not.toContain('COMPOSE_PROJECT_NAME');
  });
});

describe('found by the import corpus: secrets', () => {
  it('nginx-flask-mysql: MYSQL_ROOT_PASSWORD_FILE=/run/secrets/x is the path of a compose secret, not a secret: the healthcheck reading it is kept', () => {
    const { doc, result } = importText("services:\n  db:\n    image: mariadb:10\n    healthcheck:\n      test: ['CMD-SHELL', 'mysqladmin ping --password=\"$$(cat /run/secrets/db-password)\" --silent']\n    secrets: [db-password]\n    environment:\n      - MYSQL_ROOT_PASSWORD_FILE=/run/secrets/db-password\n      - MYSQL_PASSWORD=s3cret-corpus-pw\nsecrets:\n  db-password:\n    file: db/password.txt\n");
    expect(doc.services.db.environment).toEqual({ MYSQL_ROOT_PASSWORD_FILE: '/run/secrets/db-password', MYSQL_PASSWORD: '${MYSQL_PASSWORD}' });
    expect(doc.services.db.healthcheck.test[1]).toContain('/run/secrets/db-password');
    expect(result.secretVars).toEqual(['MYSQL_PASSWORD']);
  });
});

describe('the round-trip comparison (import --check)', () => {
  it('superset: healthcheck disable: true and test [NONE] mean the same (no check)', async () => {
    const { meaningDiff } = await import('../../src/import/check.js');
    const svc = (healthcheck: Json) => ({ name: 'p', services: { init: { image: 'superset', healthcheck } } });
    expect(meaningDiff(svc({ interval: '30s', timeout: '30s', retries: 3, disable: true }), svc({ interval: '30s', timeout: '30s', retries: 3, test: ['NONE'] }))).toEqual([]);
    expect(meaningDiff(svc({ disable: true }), svc({ test: ['CMD', 'true'] }))).toHaveLength(1);
  });

  it('every key compose prints is compared (user, secrets, ulimits ...), except lifeops\' own (logging, init) and how the image is built', async () => {
    const { meaningDiff } = await import('../../src/import/check.js');
    const a = { name: 'p', services: { web: { image: 'app:1', user: '1000', secrets: [{ source: 'db', target: '/run/secrets/db' }], logging: { driver: 'json-file' } } } };
    const b = { name: 'p', services: { web: { image: 'app:1', user: 'root', logging: { driver: 'json-file', options: { 'max-size': '10m' } }, init: true, build: { context: '/elsewhere' } } } };
    expect(meaningDiff(a, b)).toEqual(['services.web.secrets: original [{"source":"db","target":"/run/secrets/db"}], rendered undefined', 'services.web.user: original "1000", rendered "root"']);
  });

  it("mailcow: the original's networks are compared as compose creates them (subnets, driver options); lifeops' own added network is not a difference", async () => {
    const { meaningDiff } = await import('../../src/import/check.js');
    const net = { name: 'p_mailcow-network', driver: 'bridge', ipam: { config: [{ subnet: '172.22.1.0/24' }] } };
    expect(meaningDiff({ name: 'p', services: {}, networks: { 'mailcow-network': net } }, { name: 'p', services: {}, networks: { 'mailcow-network': net, backend: { name: 'p_backend', internal: true } } })).toEqual([]);
    expect(meaningDiff({ name: 'p', services: {}, networks: { 'mailcow-network': net } }, { name: 'p', services: {}, networks: { 'mailcow-network': { ...net, ipam: {} } } })).toHaveLength(1);
  });

  it('nginx-flask-mysql: a built service without image: is the image compose tags <project>-<service>', async () => {
    const { meaningDiff } = await import('../../src/import/check.js');
    const built = { build: { context: '/app/backend', target: 'builder' } };
    expect(meaningDiff({ name: 'app', services: { backend: built } }, { name: 'app', services: { backend: { ...built, image: 'app-backend' } } })).toEqual([]);
    expect(meaningDiff({ name: 'app', services: { backend: built } }, { name: 'app', services: { backend: { ...built, image: 'other' } } })).toEqual(['services.backend.image: original "app-backend", rendered "other"']);
  });
});
