// `backup.offsite:`: the restic repositories every verified backup is copied
// to, so a backup outlives the disk of the database it protects. Kept apart
// from schema.ts, which only names it. The repository password comes from the
// environment's env file (password_env) or a secret file (password_file) and
// reaches restic through its environment, never its argv.
import { z } from 'zod';
import { numeric } from './numeric.js';

const name = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'lower-case letters, digits, "-" or "_", starting with a letter');
const dur = z.string().regex(/^\d+(m|h|d)$/, 'a duration such as "30m", "26h", "7d"');
// a file path: no whitespace or control characters (it ends up in ssh's command line inside restic's sftp.command)
const filePath = z.string().regex(/^[^\s\0]+$/, 'a file path without spaces, such as "secrets/offsite.key"');

/** The repository URL forms restic takes that lifeops supports: a local path, sftp and S3 (and restic's REST server). */
export const REPOSITORY_FORMS = 'a restic repository: a local path ("/srv/offsite", "./offsite", "local:/srv/offsite"), "sftp:user@host:/path", "sftp://user@host:port//path", "s3:host/bucket/path" or "rest:https://host/path"';
const repositoryUrl = z
  .string()
  .regex(/^(\/\S+|\.{1,2}\/\S*|local:\S+|sftp:[^\s/@:]+@[^\s/@:]+:\S+|sftp:\/\/[^\s/@:]+@[^\s/@:]+(:\d+)?\/\S+|s3:\S+|rest:https?:\/\/\S+)$/, REPOSITORY_FORMS);

export const isSftp = (repository: string): boolean => repository.startsWith('sftp:');

export const offsiteRepoSchema = z
  .object({
    name: name.describe('what `backups list` and `status` call this copy'),
    repository: repositoryUrl.describe(REPOSITORY_FORMS),
    password_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'a variable name such as OFFSITE_PASSWORD').optional().describe("variable (environment's env file or the process environment) holding the restic repository password"),
    password_file: filePath.optional().describe('file holding the restic repository password (relative to the stack file)'),
    known_hosts: filePath.optional().describe('sftp: a known_hosts file pinning the server host key (ssh runs with StrictHostKeyChecking=yes)'),
    identity_file: filePath.optional().describe('sftp: the private key ssh logs in with (BatchMode: never a password prompt)'),
    freshness: z
      .object({ warn: dur.default('30h'), crit: dur.default('54h') })
      .strict()
      .default({ warn: '30h', crit: '54h' })
      .describe('`status`: age of the newest copy in this repository past which it is WARNING / CRITICAL'),
    check_subsets: numeric(z.number().int().min(1).max(1000)).default(12).describe('`backups verify --offsite` reads 1/N of the data per run, a different part each time'),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (Boolean(r.password_env) === Boolean(r.password_file)) {
      ctx.addIssue({ code: 'custom', path: ['password_env'], message: 'give exactly one of password_env (a variable name) or password_file (a file holding the password)' });
    }
    if (isSftp(r.repository)) {
      if (!r.known_hosts) ctx.addIssue({ code: 'custom', path: ['known_hosts'], message: 'an sftp repository needs known_hosts: a file pinning the server host key' });
      if (!r.identity_file) ctx.addIssue({ code: 'custom', path: ['identity_file'], message: 'an sftp repository needs identity_file: the private key ssh logs in with' });
    } else {
      for (const k of ['known_hosts', 'identity_file'] as const) {
        if (r[k]) ctx.addIssue({ code: 'custom', path: [k], message: `${k} applies only to an sftp: repository` });
      }
    }
  });

export const offsiteSchema = z
  .array(offsiteRepoSchema)
  .default([])
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${r.name}" names two off-site repositories: each needs its own name` });
      seen.add(r.name);
    });
  })
  .describe('restic repositories each verified backup is copied to (encrypted, deduplicated)');

export type OffsiteRepo = z.infer<typeof offsiteRepoSchema>;
