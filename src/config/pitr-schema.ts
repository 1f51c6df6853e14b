// `backup.pitr:`: point-in-time recovery for the stack's Postgres. The server
// archives every finished WAL segment into a volume of its own (Postgres'
// archive_mode and archive_command, nothing added to the image), and each
// `lifeops backup` also takes a physical base backup (pg_basebackup in the
// database's container). `rollback --to TIME` replays the archive on the
// newest base backup before TIME. Kept apart from schema-ops.ts, which only names it.
import { z } from 'zod';

const seconds = z.string().regex(/^\d+(s|m|h)$/, 'a duration such as "60s", "5m"');

export const pitrSchema = z
  .object({
    enabled: z.boolean().default(false).describe('archive WAL continuously and take a base backup with every backup'),
    archive_timeout: seconds
      .default('60s')
      .refine((t) => { const n = Number(t.slice(0, -1)) * ({ s: 1, m: 60, h: 3600 } as Record<string, number>)[t.slice(-1)]; return n >= 1 && n <= 86_400; }, 'between 1s and 24h')
      .describe("Postgres' archive_timeout: a WAL segment with any commit in it is archived at most this long after it began, which bounds what a lost disk loses"),
    lag: z
      .object({ warn: seconds.default('5m'), crit: seconds.default('30m') })
      .strict()
      .default({ warn: '5m', crit: '30m' })
      .describe('`status`: how old the oldest WAL segment still waiting to be archived may be before WARNING / CRITICAL'),
    offsite: z
      .object({
        schedule: z.string().regex(/^(\S+\s+){4}\S+$/, 'a five-field cron expression such as "*/5 * * * *"').default('*/5 * * * *').describe('when `lifeops offsite push` copies the archived WAL off-site (a cron line of its own; every backup pushes too)'),
        lag: z
          .object({ warn: seconds.default('15m'), crit: seconds.default('1h') })
          .strict()
          .default({ warn: '15m', crit: '1h' })
          .describe('`status`: how long an archived segment may wait for its off-site copy before WARNING / CRITICAL'),
      })
      .strict()
      .default({ schedule: '*/5 * * * *', lag: { warn: '15m', crit: '1h' } })
      .describe('the WAL archive copied to the backup.offsite repositories (only with backup.offsite)'),
  })
  .strict()
  .describe('point-in-time recovery: continuous WAL archiving and base backups (`lifeops rollback --to TIME`)');

export type PitrConfig = z.infer<typeof pitrSchema>;

/** Where the archive volume is mounted in the database container (beside, not inside, the data directory). */
export const WAL_ARCHIVE_DIR = '/var/lib/postgresql/wal-archive';
/** The compose volume key holding the archive (the engine names it <project>_<key>). */
export const WAL_ARCHIVE_VOLUME = 'lifeops-wal-archive';

/** archive_timeout in seconds. */
export function archiveTimeoutSeconds(p: PitrConfig): number {
  return Number(p.archive_timeout.slice(0, -1)) * ({ s: 1, m: 60, h: 3600 } as Record<string, number>)[p.archive_timeout.slice(-1)];
}

/** The pitr block when it is on, else undefined. */
export const pitrOn = (stack: { backup: { pitr?: PitrConfig } }): PitrConfig | undefined => (stack.backup.pitr?.enabled ? stack.backup.pitr : undefined);
