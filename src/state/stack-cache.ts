// The stack parse cache (config/parse-cache.ts) in the state folder: one file
// per stack file, holding the parse of its last bytes; a changed file or a
// new lifeops build does not match its key and is parsed again (and the entry
// replaced). Written whole (temporary file renamed into place).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { replacePrivate } from '../util/private-files.js';
import type { ParsedStackFile, StackParseCache } from '../config/parse-cache.js';
import { stackParseCacheFile } from './paths.js';

interface Entry extends ParsedStackFile {
  key: string;
  file: string;
}

const fileFor = (stateDir: string, stackFile: string) => stackParseCacheFile(stateDir, createHash('sha256').update(stackFile).digest('hex').slice(0, 16));

export function stateParseCache(stateDir: string, build: string): StackParseCache {
  return {
    build,
    get(stackFile, key) {
      let e: Entry;
      try {
        e = JSON.parse(readFileSync(fileFor(stateDir, stackFile), 'utf8')) as Entry;
      } catch {
        return undefined;
      }
      const ok = e && e.key === key && e.file === stackFile && typeof e.value === 'object' && e.value !== null && !Array.isArray(e.value) && Array.isArray(e.environments) && Array.isArray(e.othersChecked);
      return ok ? { value: e.value, environments: e.environments.map(String), othersChecked: e.othersChecked.map(String) } : undefined;
    },
    put(stackFile, key, entry) {
      const file = fileFor(stateDir, stackFile);
      const body: Entry = { key, file: stackFile, environments: entry.environments, othersChecked: entry.othersChecked, value: entry.value };
      replacePrivate(file, JSON.stringify(body) + '\n');
    },
  };
}
