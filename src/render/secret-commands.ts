// A secret on a container process's command line is readable by every local
// user of the host (ps, /proc/PID/cmdline) and by anyone who can run `docker
// inspect`. Two ways a service's command or entrypoint puts one there:
//   - compose interpolates a secret variable into the command itself;
//   - the container's own shell (`sh -c "valkey-server --requirepass
//     $$REDIS_PASSWORD"`) expands a secret from its environment into the
//     arguments of the program it starts.
// This finds the second (the first is a secret template at the key). Pure.
import { shellWords } from '../util/shell-words.js';

const SHELL = /^(?:.*\/)?(?:sh|bash|ash|dash|zsh|ksh)$/;
// Commands the shell runs itself: their words are on no process's command line.
const BUILTINS = new Set(['echo', 'printf', 'export', 'read', 'test', '[', '[[', ':', 'local', 'set', 'unset', 'cd', 'true', 'false', 'shift', 'return', 'exit', 'trap', 'wait', 'umask', 'ulimit', 'readonly', 'declare', 'typeset']);
// Words that start a compound command or pass the rest on to a program.
const PREFIXES = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{', 'time', 'exec', 'command', 'nohup']);

export interface ShellSecret {
  /** The variable the shell expands. */
  name: string;
  /** The program whose arguments would hold its value. */
  program: string;
}

/** A word of a shell script with the variables it expands (outside single quotes, not escaped). */
interface Word {
  text: string;
  expands: string[];
}

/** Simple commands of a script: split at unquoted ; & | newlines and parentheses. */
function simpleCommands(script: string): Word[][] {
  const commands: Word[][] = [];
  let words: Word[] = [];
  let word: Word | undefined;
  let quote: "'" | '"' | undefined;
  const endWord = () => {
    if (word) words.push(word);
    word = undefined;
  };
  const endCommand = () => {
    endWord();
    if (words.length) commands.push(words);
    words = [];
  };
  for (let i = 0; i < script.length; i++) {
    const ch = script[i];
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word!.text += ch;
      continue;
    }
    if (ch === '\\' && i + 1 < script.length) {
      word ??= { text: '', expands: [] };
      word.text += script[++i];
      continue;
    }
    if (ch === '$') {
      const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))/.exec(script.slice(i));
      word ??= { text: '', expands: [] };
      if (m) word.expands.push(m[1] ?? m[2]);
      word.text += ch;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = undefined;
      else word!.text += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      word ??= { text: '', expands: [] };
      quote = ch;
    } else if (/\s/.test(ch) && ch !== '\n') endWord();
    else if ('\n;&|()'.includes(ch)) endCommand();
    else {
      word ??= { text: '', expands: [] };
      word.text += ch;
    }
  }
  endCommand();
  return commands;
}

/** The script a shell runs with -c, when argv starts one (`sh -c SCRIPT`, `bash -ec SCRIPT`, after any wrapper such as tini --). */
function shellScript(argv: string[]): string | undefined {
  const at = argv.findIndex((w) => SHELL.test(w));
  if (at < 0) return undefined;
  for (let i = at + 1; i < argv.length; i++) {
    if (!argv[i].startsWith('-')) return undefined;
    if (/^-[a-z]*c[a-z]*$/.test(argv[i])) return argv[i + 1];
  }
  return undefined;
}

/** Secrets (by `isSecret`) that a shell started by `argv` would expand onto a program's command line. */
export function secretsExpandedOntoArgv(argv: string[], isSecret: (name: string) => boolean): ShellSecret[] {
  const script = shellScript(argv);
  if (script === undefined) return [];
  const out: ShellSecret[] = [];
  for (const words of simpleCommands(script)) {
    let i = 0;
    // assignments (NAME=$SECRET prog) put the value in the program's environment, not its arguments
    while (i < words.length && (PREFIXES.has(words[i].text) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i].text))) i++;
    const program = words[i];
    if (!program || BUILTINS.has(program.text)) continue;
    for (const w of words.slice(i)) for (const name of w.expands) if (isSecret(name) && !out.some((o) => o.name === name)) out.push({ name, program: program.text });
  }
  return out;
}

/** The argv a service starts with, as far as the stack says: its entrypoint then its command (compose splits a string as the shell would quote it). */
export function startArgv(entrypoint: string | string[] | undefined, command: string | string[] | undefined): string[] {
  const words = (v: string | string[] | undefined) => (v === undefined ? [] : typeof v === 'string' ? shellWords(v) : v);
  return [...words(entrypoint), ...words(command)];
}
