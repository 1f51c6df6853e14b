// The stack file schema. The TypeScript types (z.infer) and the JSON Schema
// (`lifeops schema`) both come from here, so editors and the loader agree.
import { z } from 'zod';
import { swarmSchema, targetSchema } from './swarm-schema.js';
import { hostSchema, remoteSchema } from './remote-schema.js';
import { name } from './schema-values.js';
import { envFileEntry, gunicornSchema, networkSchema, composeKey, projectName, serviceSchema, volumeSchema } from './schema-service.js';
import { backupSchema, budgetSchema, cronSchema, deploySchema, frontSchema, migrationsSchema, monitoringSchema, pgbouncerSchema, postgresSchema, redisSchema, statusSchema } from './schema-ops.js';

export { duration, memSize, safeToken, hostname, pgIdent, email } from './schema-values.js';
export * from './schema-service.js';
export * from './schema-ops.js';

export const stackBaseShape = {
  version: z.literal(1).default(1),
  name,
  project: projectName.optional().describe('the compose project name (default <name>-<environment>); set it to adopt a stack already running under plain compose'),
  description: z.string().optional(),
  default_environment: name.optional(),
  variables: z
    .object({
      required: z.array(z.string()).default([]),
      secrets: z.array(z.string()).default([]).describe('extra variable names to treat as secrets (PASSWORD/SECRET/TOKEN/KEY names always are)'),
      defaults: z.record(z.string(), z.string()).default({}),
    })
    .strict()
    .default({ required: [], secrets: [], defaults: {} }),
  images: z.record(z.string(), z.string()).default({}).describe('image mapping: official repository -> local image'),
  services: z.record(name, serviceSchema),
  networks: z.record(composeKey, networkSchema).default({}).describe('networks services may join besides the built-in default and backend'),
  volumes: z.record(composeKey, volumeSchema).default({}).describe('named volumes with options (external, name ...); volumes only used by services need no entry'),
  postgres: postgresSchema.optional(),
  redis: redisSchema.optional(),
  pgbouncer: pgbouncerSchema.optional(),
  front: frontSchema.optional(),
  monitoring: monitoringSchema.optional(),
  backup: backupSchema.default(backupSchema.parse({})),
  migrations: migrationsSchema.optional(),
  deploy: deploySchema.default(deploySchema.parse({})),
  budget: budgetSchema.optional(),
  status: statusSchema.default(statusSchema.parse({})),
  cron: cronSchema.default(cronSchema.parse({})),
  templates: z.record(z.string(), z.string()).default({}).describe('rendered file -> template file overriding the built-in one'),
  target: targetSchema.default('compose'),
  swarm: swarmSchema.optional(),
  host: hostSchema.optional(),
  remote: remoteSchema.optional().describe('with host: where lifeops keeps things on the server'),
};

export const environmentSchema = z
  .object({
    env_file: envFileEntry.optional().describe('variables for this environment, relative to the stack file\'s folder; missing is an error unless required: false'),
    production: z.boolean().optional().describe('apply production rules (secret strength, confirmations); default: name is "production"'),
  })
  .catchall(z.unknown())
  .describe('overlay: any top-level key (services, front, monitoring ...) merged onto the base');

export const stackFileSchema = z
  .object({ ...stackBaseShape, environments: z.record(name, environmentSchema).default({}) })
  .strict();

export type StackFile = z.infer<typeof stackFileSchema>;
/** `compose`: the service's keys that only the Compose Specification has (ulimits, cap_add, ...), passed through as written. */
export type Service = z.infer<typeof serviceSchema> & { compose?: Record<string, unknown> };
export type Gunicorn = z.infer<typeof gunicornSchema>;
export type Front = z.infer<typeof frontSchema>;
export type Monitoring = z.infer<typeof monitoringSchema>;
export type StatusThresholds = z.infer<typeof statusSchema>;

/** A stack resolved for one environment: overlay merged, variables interpolated, validated. */
export interface Stack extends StackFile {
  env: string;
  production: boolean;
  /** the project name compose runs under */
  project: string;
  /** absolute folder of the stack file; relative paths resolve against it */
  baseDir: string;
  file: string;
  /** resolved variables (process env + env file + defaults) */
  vars: Record<string, string>;
  /** names of variables whose values are secret */
  secretNames: string[];
  /** for values that came from a secret variable: dotted path -> template with ${VAR} kept */
  secretTemplates: Record<string, string>;
  /** top-level compose `secrets:` and `configs:`, passed through (checked against the Compose Specification) */
  composeTop?: { secrets?: Record<string, unknown>; configs?: Record<string, unknown> };
  /** the state dir that manages this stack's containers (set by the CLI; rendered as their lifeops.state labels) */
  owner?: { id: string; dir: string; host?: string };
}

export function jsonSchema(): unknown {
  return z.toJSONSchema(stackFileSchema, {
    io: 'input',
    unrepresentable: 'any',
    // zod leaves out the defaults of values it reads through a transform (numeric(): "8000" -> 8000); an editor should still see them
    override: (ctx) => {
      const def = (ctx.zodSchema as { _zod: { def: { type: string; defaultValue?: unknown } } })._zod.def;
      if (def.type === 'default' && ctx.jsonSchema.default === undefined) ctx.jsonSchema.default = JSON.parse(JSON.stringify(def.defaultValue));
    },
  });
}
