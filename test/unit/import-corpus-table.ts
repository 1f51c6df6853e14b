// What `lifeops import --check` must do with each compose setup of the corpus
// (test/fixtures/corpus/<project>/): read the same meaning, or refuse with
// exit 2 at the key the message names. `features` says what the fixture
// exercises; `secrets` are values that must never leave the env file.
export interface CorpusCase {
  features: string;
  /** the exit-2 message expected; absent: the round trip finds no difference */
  refused?: RegExp;
  secrets?: string[];
}

export const CORPUS: Record<string, CorpusCase> = {
  immich: { features: 'name:, .env paths and version, ${VAR-:default} port, env_file .env, healthcheck disable: false, container_name, shm_size', secrets: ['postgres-corpus-pw'] },
  sentry: { features: 'anchors and merge keys, healthcheck timings from .env, profiles, ulimits, build args list, null env, external volumes, bare $VAR' },
  mattermost: { features: 'image, restart, read_only, bind paths and ports (udp and tcp) from .env, bare environment names, a .env value built from others, tmpfs, security_opt, pids_limit', secrets: ['mm-corpus-db-pw'] },
  plausible: { features: 'compose.override.yml publishing ports, bare environment names set in .env or nowhere, ulimits, healthcheck start_period, a plain-word password beside pg_isready -U', secrets: ['As0fZsJlUpuFYSthRjT5Yflg8dlK6pLVZb7AAbPE0rxAcCkIFRBxOhUDxC6tJYz9'] },
};
