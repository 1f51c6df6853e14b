// The deploy executor: runs a plan's steps in order, each logged; on a
// failure after changes began, the undo runs once (flows/deploy-undo.ts).
import os from 'node:os';
import { existsSync } from 'node:fs';
import type { Stack } from '../config/schema.js';
import { OperationError, LifeopsError } from '../errors.js';
import type { ContainerState } from '../clients/docker.js';
import { httpGet, httpGetLoopback } from '../clients/http.js';
import { UPSTREAM_MARKER_HEADER } from '../render/nginx.js';
import { buildEnv, composeEnv, type ComposeCli } from '../commands/compose.js';
import type { Run } from './context.js';
import { recordRelease, type ReleaseRecord } from '../state/ledger.js';
import { releaseArchiveDir } from '../state/paths.js';
import { writeRendered, readRenderedDir, writeSecretFiles } from './render.js';
import { fingerprintStep, migrationEffect, writeMigrationRecord, type MigrationPlan } from './migrations.js';
import { exec, reloadFront, rollingUpdate, serviceHashes, type RolloutCtx } from './rollout.js';
import { APP_ROLES, composeInputsDigest } from '../plan/rollout.js';
import type { DeployPlan, DeployStep } from '../plan/deploy.js';
import { runHooks } from './hooks.js';
import { reloadMonitoring } from './monitoring-reload.js';
import { notify } from './notify.js';
import { takeBackup } from './backup.js';
import { applyRetention } from './retention.js';
import { prune } from './prune.js';
import { mb } from '../plan/prune.js';
import { endpointChecks } from './health.js';
import { waitHealthy } from './wait.js';
import { undoDeploy } from './deploy-undo.js';
import { obtainCertificates } from './certs.js';
import { changedCerts, rerenderForCerts } from './certs-apply.js';
import type { Changes, DeployInputs, DeployResult } from './deploy-types.js';

/** How long failing endpoint checks are retried after a rollout before the release counts as failed. */
const ENDPOINT_RETRY_MS = 30_000;

/**
 * The web service's health and ready paths through the front's published
 * port. An nginx front marks what it proxied from an upstream
 * (UPSTREAM_MARKER_HEADER): a 200 without it came from a placeholder, a
 * default server or the front's own page, and fails. Only a /health the
 * domain leaves to the front itself is taken without it; when that is all
 * there is, `/` must come from the app (any status below 500).
 */
export async function frontSmoke(stack: Stack, containers: ContainerState[], servedOverTls = false): Promise<string> {
  if (!stack.front) return 'no front';
  const front = containers.find((c) => c.service === stack.front!.service && c.state === 'running');
  if (!front) throw new OperationError(`front service ${stack.front.service} is not running`);
  const port = front.ports[stack.front.listen_port] ?? Object.values(front.ports)[0];
  if (!port) return 'front publishes no port on 127.0.0.1; checked from inside the containers only';
  const web = Object.values(stack.services).find((s) => s.role === 'web' && s.http);
  const paths = [web?.http?.health ?? '/health', ...(web?.http?.ready ? [web.http.ready] : [])];
  const domain = stack.front.domains[0];
  const frontService = stack.front.service;
  const marked = stack.front.kind === 'nginx';
  const ownPage = (p: string) => marked && domain.health === 'front' && p === '/health';
  const marker = UPSTREAM_MARKER_HEADER.toLowerCase();
  const notFromApp = (p: string, status: number) =>
    new OperationError(`smoke test through the front: GET ${p} answered ${status} without the ${UPSTREAM_MARKER_HEADER} header the front sets on what an upstream answered: not the app (a placeholder, a default server or a page of the front's own)`, `check the front's routing of ${domain.name}: lifeops -f ${stack.file} logs ${frontService}`);
  // a domain served over HTTPS redirects plain HTTP: ask through the published 443 with its name (SNI)
  const tlsPort = servedOverTls && front.ports[443];
  if (tlsPort) {
    for (const p of paths) {
      const res = await httpGetLoopback({ port: tlsPort, path: p, hostHeader: domain.name, tls: true, timeoutMs: 10_000 });
      if (res.status < 200 || res.status >= 300) throw new OperationError(`smoke test through the front: GET https://${domain.name}${p} answered ${res.status}: ${res.excerpt}`);
      if (marked && !ownPage(p) && !res.headers[marker]) throw notFromApp(p, res.status);
    }
    return `${paths.join(' and ')} answered 200 through 127.0.0.1:${tlsPort} (HTTPS${marked ? ', from the app: marked by the front' : ''})`;
  }
  for (const p of paths) {
    const res = await httpGet(`http://127.0.0.1:${port}${p}`, { timeoutMs: 10_000, headers: { host: domain.name } });
    if (!res.ok) throw new OperationError(`smoke test through the front: GET ${p} answered ${res.status}: ${res.body.slice(0, 200)}`);
    if (marked && !ownPage(p) && !res.headers[marker]) throw notFromApp(p, res.status);
  }
  if (marked && paths.every(ownPage)) {
    const res = await httpGet(`http://127.0.0.1:${port}/`, { timeoutMs: 10_000, headers: { host: domain.name } });
    if (!res.headers[marker] || res.status >= 500) throw notFromApp('/', res.status);
    return `${paths.join(' and ')} answered 200 through 127.0.0.1:${port}, and / came from the app (${res.status})`;
  }
  return `${paths.join(' and ')} answered 200 through 127.0.0.1:${port}${marked ? ' (from the app: marked by the front)' : ''}`;
}

export async function execute(
  d: DeployInputs,
  plan: DeployPlan,
  compose: ComposeCli,
  mplan: MigrationPlan | undefined,
  started: Date,
  result: (outcome: DeployResult['outcome'], plan?: DeployPlan) => DeployResult,
): Promise<DeployResult> {
  const { stack, run, opts } = d;
  const ctx: RolloutCtx = { stack, run, docker: run.docker, compose, target: d.target, env: composeEnv(stack) };
  const user = os.userInfo().username;
  const changes: Changes = { files: false, containers: false, migrationsRan: false };
  const record = (outcome: ReleaseRecord['outcome'], extra: Partial<ReleaseRecord> = {}) =>
    recordRelease(opts.stateDir, {
      run_id: run.id,
      kind: 'deploy',
      env: stack.env,
      time: started.toISOString(),
      duration_ms: run.io.now().getTime() - started.getTime(),
      version: d.version,
      user,
      images: d.images,
      config_hash: d.hash,
      outcome,
      migrations_ran: changes.migrationsRan,
      ...(changes.backupId ? { backup: changes.backupId } : {}),
      ...extra,
    });
  let containers: ContainerState[] = [];

  const runStep = async (step: DeployStep): Promise<void> => {
    switch (step.kind) {
      case 'hooks':
        if (step.phase === 'pre_deploy') return runHooks(stack, run, 'pre_deploy', d.version);
        // the release is live: a failing post-deploy hook is a warning
        return runHooks(stack, run, 'post_deploy', d.version).catch((e: Error) => run.say(`warning: ${e.message.split('\n')[0]} (the release is live)`));
      case 'start-data': {
        // the files in force (the last release's, which recovery put back); none yet: this release's
        if (!d.target.files.every((f) => existsSync(f))) {
          changes.files = true;
          writeRendered(d.files, d.renderDir);
          writeSecretFiles(stack, d.renderDir);
          await run.effects.publishRendered?.(d.renderDir, run.id);
        }
        await exec(ctx, step.title, step.argv);
        const only = { ...stack, services: Object.fromEntries(Object.entries(stack.services).filter(([n]) => step.services.includes(n))) } as Stack;
        await run.step(`wait for ${step.services.join(', ')} to be healthy`, async () => void (await waitHealthy(only, run.docker, run.effects)));
        return;
      }
      case 'backup': {
        const m = await takeBackup(stack, run, { stateDir: opts.stateDir, tag: 'pre-deploy' });
        changes.backupId = m.id;
        run.say(`pre-deploy backup: ${m.id}`);
        return;
      }
      case 'render':
        changes.files = true;
        return run.step(step.title, async () => {
          writeRendered(d.files, d.renderDir);
          const secrets = writeSecretFiles(stack, d.renderDir);
          if (secrets.length) run.info('secret files', { written: secrets });
          await run.effects.publishRendered?.(d.renderDir, run.id);
        });
      case 'build':
        // a secret build arg's value travels in docker's environment, not its argv
        return run.step(step.title, async () => void (await run.effects.change(step.argv, { env: buildEnv(stack, step.image), timeoutMs: 30 * 60_000 })));
      case 'up-infra':
        changes.containers = true;
        // exactly the planned command (the dry run printed it)
        return exec(ctx, step.title, step.argv);
      case 'wait-infra': {
        const subset = { ...stack, services: Object.fromEntries(Object.entries(stack.services).filter(([, s]) => !APP_ROLES.has(s.role))) } as Stack;
        await run.step(step.title, async () => void (await waitHealthy(subset, run.docker, run.effects)));
        const pg = stack.postgres;
        if (pg && !pg.external_url && pg.databases.some((db) => db !== pg.database)) {
          await run.step('postgres: create the databases postgres.databases lists, if missing', () => ensureDatabases(stack, run));
        }
        return;
      }
      case 'migrate':
        return migrate(d, ctx, step, plan, changes);
      case 'roll':
        changes.containers = true;
        return rollingUpdate(ctx, step);
      case 'up-apps':
        changes.containers = true;
        return exec(ctx, step.title, step.argv);
      case 'reload-front':
        return reloadFront(ctx, step.reason);
      case 'up-monitoring':
        changes.containers = true;
        return exec(ctx, step.title, step.argv);
      case 'reload-monitoring':
        return reloadMonitoring(ctx, step);
      case 'wait-healthy':
        containers = await run.step(step.title, () => waitHealthy(stack, run.docker, run.effects));
        return;
      case 'checks':
        return checks(stack, run, containers, step.smoke, frontServesTls(stack, d.files));
      case 'certificates': {
        // the front serves HTTP and the challenge path by now; a refusal is reported, never fatal (flows/certs.ts)
        const changed = changedCerts(await obtainCertificates(stack, run, opts.stateDir));
        const next = rerenderForCerts(stack, opts.stateDir, d, d.renderDir);
        if (next) {
          await run.step('render HTTPS for the domains that got their first certificate', async () => writeRendered(next.files, d.renderDir));
          d.files = next.files;
          d.hash = next.hash;
        }
        if (next || changed.length) await reloadFront(ctx, 'certificates installed');
        return;
      }
      case 'record': {
        const archive = releaseArchiveDir(opts.stateDir, stack.env, run.id);
        writeRendered(d.files, archive, 'private');
        if (mplan) writeMigrationRecord(opts.stateDir, stack.env, mplan.files, run.id);
        const hashes = plan.hashes_from === 'release' ? d.prev!.service_hashes! : d.plannedHashes?.files === d.files ? d.plannedHashes.hashes : await serviceHashes(ctx, d.target);
        record('success', { render_dir: archive, service_hashes: hashes, inputs_digest: composeInputsDigest(d.files, { ...run.env, ...ctx.env }, compose) });
        return;
      }
      case 'retention':
        // only after a release succeeded: a failed one keeps every backup as evidence
        return void (await applyRetention(run, stack, opts.stateDir).catch((e: Error) => run.say(`warning: retention: ${e.message.split('\n')[0]} (the release is live)`)));
      case 'prune':
        // the release is live: pruning only reports, never fails it
        return void (await prune(stack, run, { stateDir: opts.stateDir })
          .then((r) => r.removed_images.length + r.removed_containers.length && run.say(`pruned ${r.removed_images.length} image(s) (${mb(r.bytes)}), ${r.removed_containers.length} container(s)`))
          .catch((e: Error) => run.say(`warning: prune: ${e.message.split('\n')[0]} (the release is live)`)));
      case 'notify':
        return notify(stack, run, { env: stack.env, project: stack.project, version: d.version, outcome: 'success', run_id: run.id, duration_ms: run.io.now().getTime() - started.getTime(), user });
    }
  };

  try {
    for (let i = 0; i < plan.steps.length; i++) {
      const step = plan.steps[i];
      if (step.kind !== 'roll') {
        await runStep(step);
        continue;
      }
      // the rolls, and beside them the apps the plan lets be recreated meanwhile
      let j = i;
      while (plan.steps[j + 1]?.kind === 'roll') j++;
      const rolls = plan.steps.slice(i, j + 1);
      const beside = plan.steps[j + 1]?.kind === 'up-apps' && (plan.steps[j + 1] as { besideRoll?: boolean }).besideRoll ? plan.steps[j + 1] : undefined;
      const results = await Promise.allSettled([
        (async () => {
          for (const r of rolls) await runStep(r);
        })(),
        ...(beside ? [runStep(beside)] : []),
      ]);
      // both ended (none is left running while the undo starts): the first failure is the deploy's
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      i = beside ? j + 1 : j;
    }
    return result('success', plan);
  } catch (e) {
    const err = e as Error;
    let message = err.message;
    let outcome: ReleaseRecord['outcome'] = 'failed';
    const changing = changes.files || changes.containers || Boolean(changes.backupId);
    const prevKept = Boolean(d.prev?.render_dir && existsSync(d.prev.render_dir));
    if (changing && !prevKept) {
      message = `deploy of version ${d.version} failed: ${err.message}\nno earlier release of ${stack.env} with kept rendered files to return to: the stack is left as it is${changes.backupId ? `; the data as it was before this deploy is in backup ${changes.backupId}` : ''}`;
    } else if (changes.containers || changes.migrationsRan) {
      try {
        const back = await undoDeploy(d, ctx, changes);
        outcome = 'rolled-back';
        message = `deploy of version ${d.version} failed: ${err.message}\n${back}`;
      } catch (re) {
        message = `deploy of version ${d.version} failed: ${err.message}\nAND the automatic rollback failed: ${(re as Error).message}${changes.backupId ? `\nthe data as it was before this deploy is in backup ${changes.backupId}: lifeops rollback ${changes.backupId}` : ''}`;
      }
    } else if (prevKept) {
      // only files changed: put the last release's back, nothing else was touched
      writeRendered(readRenderedDir(d.prev!.render_dir!), d.renderDir);
      await run.effects.publishRendered?.(d.renderDir, d.prev!.run_id).catch((pe: Error) => run.say(`warning: ${pe.message.split('\n')[0]}`));
      if (changes.files) message = `deploy of version ${d.version} failed: ${err.message}\nthe rendered files of release ${d.prev!.run_id} were put back; no container was changed`;
    }
    record(outcome, { error: run.redactor.text(message.split('\n')[0]) });
    try {
      await runHooks(stack, run, 'on_failure', d.version, { LIFEOPS_ERROR: run.redactor.text(err.message.split('\n')[0]) });
    } catch (he) {
      run.say(`warning: ${(he as Error).message.split('\n')[0]}`);
    }
    await notify(stack, run, { env: stack.env, project: stack.project, version: d.version, outcome, run_id: run.id, duration_ms: run.io.now().getTime() - started.getTime(), user, message: message.split('\n').slice(0, 3).join('\n') });
    if (e instanceof LifeopsError && message === err.message) throw e;
    throw new OperationError(message, e instanceof LifeopsError ? e.hint : undefined);
  }
}

async function migrate(d: DeployInputs, ctx: RolloutCtx, step: Extract<DeployStep, { kind: 'migrate' }>, plan: DeployPlan, changes: Changes): Promise<void> {
  const { stack, run } = d;
  const before = await fingerprintStep(stack, run, run.docker, 'before');
  await run.step(step.title, async () => {
    // a migration that fails half-way may have changed the database: only a completed run is checked below
    changes.migrationsRan = true;
    // a database created a moment ago may still be restarting after its init scripts: retry only on a first deploy
    const attempts = plan.rollout.fresh || plan.rollout.recreate.includes(stack.postgres?.service ?? '') ? 6 : 1;
    for (let i = 1; ; i++) {
      try {
        const r = await run.effects.change(step.argv, { env: ctx.env, timeoutMs: 30 * 60_000 });
        run.info('migrations', { output: run.redactor.text((r.stdout + '\n' + r.stderr).trim().slice(-4000)) });
        return;
      } catch (me) {
        if (i >= attempts) throw me;
        run.info('migrations', { attempt: i, error: run.redactor.text((me as Error).message.slice(-300)) });
        await run.effects.sleep(3000);
      }
    }
  });
  const effect = migrationEffect(before, await fingerprintStep(stack, run, run.docker, 'after'), step.newFiles);
  changes.migrationsRan = effect.changed;
  run.info('migrations', effect);
  run.say(`migrations: ${effect.reason}`);
}

/** The rendered nginx site of the first domain listens on 443 (so its HTTP server redirects). */
function frontServesTls(stack: Stack, files: DeployInputs['files']): boolean {
  const first = stack.front?.kind === 'nginx' ? stack.front.domains[0].name : undefined;
  return Boolean(first && files.find((f) => f.path === `nginx/conf.d/${first}.conf`)?.content.includes('listen 443 ssl'));
}

async function checks(stack: Stack, run: Run, containers: ContainerState[], smoke: boolean, servedOverTls: boolean): Promise<void> {
  // the smoke test through the front starts beside the endpoint checks (both only read); a failure is retried below
  const earlySmoke = smoke ? frontSmoke(stack, containers, servedOverTls).then((ok) => ({ ok }), (e: Error) => ({ e })) : undefined;
  await run.step('check health and readiness endpoints', async () => {
    // a loaded host can miss one check's timeout: retry failures for a while before rolling back a release
    const deadline = Date.now() + ENDPOINT_RETRY_MS;
    // the clock's waits count too: a recording port's waits take no time
    let waited = 0;
    for (let delay = 500; ; delay = Math.min(delay * 2, 5000)) {
      const results = await endpointChecks(stack, run.docker, containers);
      const bad = results.filter((c) => c.level !== 'OK');
      if (!bad.length) {
        run.info('checks', results.map((c) => `${c.check}: ${c.message} (${c.duration_ms} ms)`));
        return;
      }
      const summary = bad.map((c) => `${c.check}: ${c.message}`).join('; ');
      if (Date.now() + delay > deadline || waited + delay > ENDPOINT_RETRY_MS) throw new OperationError(`checks failed for ${ENDPOINT_RETRY_MS / 1000}s: ${summary}`);
      run.info('checks', { retrying_in_ms: delay, failing: run.redactor.text(summary) });
      await run.effects.sleep(delay);
      waited += delay;
    }
  });
  if (earlySmoke) {
    await run.step('smoke test through the front', async () => {
      const first = await earlySmoke;
      run.info('smoke', 'ok' in first ? first.ok : await frontSmoke(stack, containers, servedOverTls));
    });
  }
}

/**
 * postgres.databases beyond the main one (the image creates only POSTGRES_DB):
 * `CREATE DATABASE name OWNER user` for each one missing, by psql in the db container.
 * Names are identifiers the schema checked; returns what it did.
 */
async function ensureDatabases(stack: Stack, run: Run): Promise<string> {
  const pg = stack.postgres!;
  const c = (await run.docker.projectContainers(stack.project)).find((x) => x.service === pg.service && x.state === 'running');
  if (!c) throw new OperationError(`postgres service ${pg.service} is not running`, `lifeops -f ${stack.file} logs ${pg.service}`);
  // "healthy" can come while the image's first-start initialisation still runs (pg_isready
  // answers on the temporary server before POSTGRES_DB exists): retry for up to 2 minutes
  const deadline = Date.now() + 120_000;
  let waited = 0;
  const psql = async (sql: string): Promise<string> => {
    for (;;) {
      const r = await run.docker.exec(c.id, ['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', pg.user, '-d', pg.database, '-c', sql], 60_000);
      if (r.exitCode === 0) return r.output.trim();
      if (r.exitCode !== 2 || Date.now() > deadline || waited > 120_000) {
        throw new OperationError(`psql in ${pg.service} failed (exit ${r.exitCode}): ${r.output.trim().split('\n').pop() ?? ''}`, `lifeops -f ${stack.file} logs ${pg.service}`);
      }
      await run.effects.sleep(2000); // exit 2: could not connect (yet)
      waited += 2000;
    }
  };
  const created: string[] = [];
  for (const db of pg.databases.filter((d) => d !== pg.database)) {
    if ((await psql(`SELECT 1 FROM pg_database WHERE datname = '${db}'`)) === '1') continue;
    await psql(`CREATE DATABASE "${db}" OWNER "${pg.user}"`);
    created.push(db);
  }
  return created.length ? `created ${created.join(', ')}` : 'all present';
}
