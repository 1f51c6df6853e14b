// A long-lived command talked to line by line: text on its stdin, then wait
// for a marker line on its stdout (psql: `SELECT '@@MARK';` after the SQL).
// The backup's snapshot session holds one open while pg_dump reads the
// snapshot it exported.
import { OperationError } from '../errors.js';
import { startSession } from './runner.js';

export interface TextSession {
  /** `text` on its stdin; what it printed before the line `marker` */
  ask(text: string, marker: string): Promise<string>;
  /** what it wrote on stderr so far */
  stderr(): string;
  /** `text` then the end of its input; resolves once it ended */
  finish(text: string): Promise<void>;
  /** end of its input (psql rolls an open transaction back), SIGTERM after 5 s; never rejects */
  close(): Promise<void>;
}

/** `argv` started now (once the process runner is loaded); `label` ("psql in the database container") names it when it ends early. */
export function startTextSession(argv: string[], label: string): TextSession {
  let out = '';
  let errText = '';
  const started = startSession(argv).then(({ proc }) => {
    proc.stderr!.on('data', (d: Buffer) => (errText += d.toString()));
    return { proc }; // wrapped: the process is itself a promise, which .then would wait for
  });
  started.catch(() => undefined); // each use below awaits it and gets the error
  return {
    ask: async (text, marker) => {
      const { proc } = await started;
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          const i = out.indexOf(marker + '\n');
          if (i >= 0) {
            const before = out.slice(0, i);
            out = out.slice(i + marker.length + 1);
            proc.stdout!.off('data', onData);
            proc.off('exit', onExit);
            resolve(before);
          }
        };
        const onData = (d: Buffer) => ((out += d.toString()), check());
        // an engine that went away leaves the docker client without a word: say how it ended
        const onExit = () => reject(new OperationError(`${label} ended early (${proc.signalCode ?? `exit ${proc.exitCode}`}): ${errText.trim().split('\n').slice(-3).join(' ') || 'no message; did the engine or the container stop?'}`));
        proc.stdout!.on('data', onData);
        proc.once('exit', onExit);
        proc.stdin!.write(text);
        check();
      });
    },
    stderr: () => errText,
    finish: async (text) => {
      const { proc } = await started;
      proc.stdin!.end(text);
      await proc;
    },
    close: async () => {
      const proc = (await started.catch(() => undefined))?.proc;
      if (!proc) return;
      if (proc.exitCode === null) {
        proc.stdin!.destroy(); // end-of-file: the command ends
        await Promise.race([proc.catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]);
        if (proc.exitCode === null) proc.kill('SIGTERM');
      }
      await proc.catch(() => undefined);
    },
  };
}
