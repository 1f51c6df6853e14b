// What `lifeops import --check` must do with each compose setup of the corpus
// (test/fixtures/corpus/<project>/): read the same meaning, or refuse with
// exit 2 at the key the message names. `features` says what the fixture
// exercises; `secrets` are values that must never leave the env file.
export interface CorpusCase {
  features: string;
  /** the file the project's guide names with -f (default: the folder, read as compose reads it) */
  file?: string;
  /** the exit-2 message expected; absent: the round trip finds no difference */
  refused?: RegExp;
  secrets?: string[];
}

export const CORPUS: Record<string, CorpusCase> = {
  immich: { features: 'name:, .env paths and version, ${VAR-:default} port, env_file .env, healthcheck disable: false, container_name, shm_size', secrets: ['postgres-corpus-pw'] },
  sentry: { features: 'anchors and merge keys, healthcheck timings from .env, profiles, ulimits, build args list, null env, external volumes, bare $VAR' },
  mattermost: { features: 'image, restart, read_only, bind paths and ports (udp and tcp) from .env, bare environment names, a .env value built from others, tmpfs, security_opt, pids_limit', secrets: ['mm-corpus-db-pw'] },
  plausible: { features: 'compose.override.yml publishing ports, bare environment names set in .env or nowhere, ulimits, healthcheck start_period, a plain-word password beside pg_isready -U', secrets: ['As0fZsJlUpuFYSthRjT5Yflg8dlK6pLVZb7AAbPE0rxAcCkIFRBxOhUDxC6tJYz9'] },
  supabase: { features: 'name:, ports from .env with /tcp, :Z and :ro,z mounts, $$ in entrypoint and command, URLs built from the password, numbers and booleans in environment', refused: /docker-compose\.yml:\d+:\d+: services\.realtime\.healthcheck\.test\.1: holds the secret \$\{ANON_KEY\}, which would be on a process's command line[\s\S]*fix: read it from the container's environment or a file instead/, secrets: ['your-super-secret-and-long-postgres-password', 'corpus-anon-key'] },
  netbox: { features: 'a service anchor reused by its worker (merge key), ${VERSION-default}, docker-compose.override.yml, env_file per service, user:, $$ in healthchecks, healthcheck anchor, two Valkey instances whose shell puts the password on valkey-server\'s command line', refused: /docker-compose\.yml:46:5: services\.redis\.command: runs a shell that expands the secret \$REDIS_PASSWORD onto valkey-server's command line[\s\S]*fix: give the program the secret through its environment or a file/, secrets: ['J5brHrAXFLQSif0K', 'H733Kdjndks81'] },
  paperless: { features: 'COMPOSE_PROJECT_NAME in .env, env_file docker-compose.env, ./consume and ./export binds, a plain-word postgres password, numbers in environment', secrets: [] },
  mastodon: { features: 'internal network, env_file .env.production, bind mounts, shm_size, shell healthchecks with quotes and a backslash, web/worker role guesses', secrets: ['corpus-mastodon-secret-key-base'] },
  n8n: { features: 'x-shared anchors merged into services, bare environment names from .env, ${POSTGRES_USER} in a healthcheck, init script bind, depends_on healthy', secrets: ['corpus-n8n-encryption-key-0123', 'corpus-n8n-runners-token-4567'] },
  nextcloud: { features: 'env_file list, :Z, :z and :z,ro volume modes, an nginx front with a bound config, entrypoint override (cron)', secrets: ['corpus-nextcloud-db-pw'] },
  gitea: { features: 'a top-level network with external: false, container_name, /etc/timezone binds, ssh port 222, literal passwords in list environment' },
  outline: { features: 'env_file ./docker.env on every service, expose, redis with its own config file in command, links, a DATABASE_URL with a password in an env file', secrets: ['corpus0outline0secret0key'] },
  wikijs: { features: 'logging driver none on postgres', refused: /docker-compose\.yml:10:7: services\.db\.logging\.driver: logging driver none: lifeops writes json-file[\s\S]*fix: remove the logging driver/ },
  'grafana-stack': { features: 'container_name, command flags naming a bound config, a named volume, GF_ admin password in list environment', secrets: [] },
  minio: { features: 'x-minio-common anchor (command, expose, environment, healthcheck) merged into nodes, hostname:, a brace pattern in the command, nginx front', secrets: ['corpus-minio-root-pw'] },
  keycloak: { features: 'a start command with flags, KC_ environment with literal passwords, a bridge network with driver, local volume driver', secrets: ['corpus-kc-db-pw', 'corpus-kc-admin-pw'] },
  redash: { features: 'x-redash-service anchor (image, depends_on, env_file, restart) with per-service command and environment overrides, links with an alias, numbers in environment', secrets: ['corpusRedashPg01'] },
  superset: { features: 'a non-default file named with -f, a scalar anchor for the image, a list anchor for volumes, env_file path/required: false, user root, depends_on completed, healthcheck disable: true, $$HOSTNAME', file: 'docker-compose-non-dev.yml' },
  airflow: { features: 'x-airflow-common with nested anchors (&airflow-common-env, &airflow-common-depends-on) merged and extended, ${AIRFLOW_PROJ_DIR:-.} bind paths, user "${AIRFLOW_UID:-50000}:0", a profile, a multi-line bash command, $${HOSTNAME} in a healthcheck, a plain-word password in URLs' },
  synapse: { features: 'build with context ../.. and dockerfile beside image, traefik labels with backquoted rules, an environment value with spaces and "=", a plain-word password (changeme)' },
  rocketchat: { features: 'image and ports from nested ${VAR:-${OTHER:-default}} forms, expose from a variable, a labels map with a rule built from a variable, ${BIND_IP:-0.0.0.0} in a port' },
  ghost: { features: '${VAR:?message} required variables set in .env, ${A:+https://${A}} nested, ${UPLOAD_LOCATION:-./data/ghost} default bind paths, double-underscore keys, -p$$MYSQL_ROOT_PASSWORD in a healthcheck, start_interval, a profile', secrets: ['corpus-ghost-root-pw', 'corpus-ghost-db-pw'] },
  wordpress: { features: 'a one-string command, expose of two ports, plain-word passwords in list environment' },
  joplin: { features: 'list environment with ${VAR} from .env, a ./data/postgres bind, a published database port', secrets: ['corpus-joplin-pw'] },
  vaultwarden: { features: 'an argon2 hash with $$ in a secret environment value, container_name, 443/udp, Caddyfile bind mount read-only' },
  umami: { features: '${APP_SECRET:-default}, init: true, $${POSTGRES_USER} in a healthcheck, depends_on healthy, a URL with a plain-word password' },
  appwrite: { features: 'x-logging anchor merged into services (json-file rotation), traefik command flags with backquotes, docker.sock bind, named networks (name:), _APP_ variables passed by name, a folded multi-line redis command', secrets: ['corpus-appwrite-db-pw', 'corpus-appwrite-root-pw'] },
  penpot: { features: 'x- anchors merged as a list (<< : [*a, *b]) into environment maps, numbers in environment, stop_signal, valkey with environment flags' },
  'nginx-flask-mysql': { features: 'build.target (builder stage), build as a string, a file-based top-level secret mounted by a service, MYSQL_ROOT_PASSWORD_FILE, $$(cat /run/secrets/...) in a healthcheck, built services without image:' },
  elk: { features: 'dotted environment keys (discovery.type, discovery.seed_hosts), container_name, 5000/tcp and 5000/udp ports, a bridge network with driver' },
  'nginx-proxy': { features: 'a label without a value (the companion finds its proxy by it), volumes_from, network_mode: bridge, docker.sock binds read-only' },
  mailcow: { features: 'fixed ipv4 addresses built from ${IPV4_NETWORK:-172.22.1}, a network with driver_opts, enable_ipv6 and two subnets from variables, dns: at a fixed address, aliases, sysctls, privileged, network_mode host, cap_add, stop_grace_period, tty, COMPOSE_PROJECT_NAME', secrets: ['corpusMailcowDb0123', 'corpusMailcowRedis0123'] },
  jitsi: { features: 'a network named meet.jitsi (a dot), ${CONFIG}/web:/config:Z with CONFIG=~/..., restart: ${RESTART_POLICY:-unless-stopped}, udp ports from variables, aliases from a variable, expose from a variable, bare environment names set or unset', secrets: ['corpusJicofoAuth0123', 'corpusJvbAuth0123'] },
  pihole: { features: '53/tcp and 53/udp, cap_add, container_name, a quoted password in map environment', secrets: ['corpus-pihole-web-pw'] },
  'home-assistant': { features: 'network_mode: host, privileged, /run/dbus and /etc/localtime read-only binds, container_name' },
  gitlab: { features: 'hostname:, a multi-line GITLAB_OMNIBUS_CONFIG with quotes and brackets, bare $GITLAB_HOME in quoted volume paths, shm_size, 2424:22' },
  zammad: { features: 'anchors nested under an x-shared mapping, an environment anchor merged and extended, ${VAR:-default} for image, restart and every value, user 0:0, restart: on-failure, a memcached command from a variable, "03:00" kept a string' },
  'traefik-configs': { features: 'top-level configs with file: and inline content: using ${COMPOSE_PROJECT_NAME} (set by compose itself), a service config in long and short form, build as a string, traefik labels with backquotes' },
  dify: { features: 'redis-server --requirepass ${REDIS_PASSWORD:-default} with REDISCLI_AUTH (becomes the redis: block), an x-shared-env anchor of ${VAR:-default} values merged into two services, a folded postgres command with quoted -c values, ${PGUSER:-postgres} in a healthcheck, an internal network', secrets: ['corpus-dify-redis-pw', 'corpus-dify-db-pw', 'corpus-dify-secret-key'] },
};
