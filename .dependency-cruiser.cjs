// Layer rules, checked by test/unit/layers.test.ts (`make test`'s unit lane;
// alone: `npx vitest run --project unit test/unit/layers.test.ts`), which also
// plants one violation of every rule in a copy of src/ and sees this config
// reject each. One direction, lowest first:
//   util -> config -> import, commands -> render -> plan
//        -> state, clients -> backup -> flows -> target -> cli
// A module directly under src/ (src/errors.ts) is open to every layer, so it
// may depend on util only; otherwise it could pass a higher layer's code down.
// What the rules cannot see (process.kill, stdout, file length) the same test
// file checks by reading the sources.
/** @type {import('dependency-cruiser').IConfiguration} */

const LAYERS = ['util', 'config', 'import', 'commands', 'render', 'plan', 'state', 'clients', 'backup', 'flows', 'target', 'cli'];

/** A rule that lets modules of layer `from` import only their own layer, src/*.ts and the layers named in `may`. */
function only(name, from, may, comment) {
  return {
    name,
    severity: 'error',
    comment,
    from: { path: `^src/${from}/` },
    to: { path: '^src/', pathNot: `^src/((${[from, ...may].join('|')})/|[^/]+\\.ts$)` },
  };
}

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'no import cycles anywhere', from: {}, to: { circular: true } },
    {
      name: 'every-module-in-a-layer',
      severity: 'error',
      comment: `every folder under src/ is one of the layers (${LAYERS.join(', ')}): a new folder would have no rule`,
      from: { path: '^src/[^/]+/', pathNot: `^src/(${LAYERS.join('|')})/` },
      to: {},
    },
    {
      name: 'src-root-depends-on-util-only',
      severity: 'error',
      comment: 'a module directly under src/ is importable by every layer: it may import util only, or it would launder a higher layer into a lower one',
      from: { path: '^src/[^/]+\\.ts$' },
      to: { path: '^src/', pathNot: '^src/util/' },
    },
    {
      name: 'no-cross-layer-re-export',
      severity: 'error',
      comment: 'export ... from names a module of the same folder only: a re-export would hand a layer code it may not import itself',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/', pathNot: '^src/$1/', dependencyTypes: ['export'] },
    },
    {
      name: 'util-is-the-bottom',
      severity: 'error',
      comment: 'util knows nothing of the project',
      from: { path: '^src/util/' },
      to: { path: '^src/', pathNot: '^src/util/' },
    },
    only('config-is-the-bottom', 'config', ['util'], 'the stack file model depends on nothing above it'),
    only('import-reads-config-only', 'import', ['config', 'util'], 'the importer turns a compose file into a stack file: config and util, nothing that renders or runs'),
    only('commands-build-from-config-only', 'commands', ['config', 'util'], 'argv builders are pure: the stack in, argv out'),
    only('render-below-plan', 'render', ['config', 'util'], 'renderers are pure and sit below plan: plan reads rendered files, render never imports plan'),
    only('plan-decides-from-below', 'plan', ['config', 'commands', 'render', 'util'], 'deciders are pure: no clients, state, backup, flows or cli'),
    only('state-owns-files-only', 'state', ['config', 'util'], 'state owns the files under the state dir: no backup archives, no clients, no processes'),
    only('clients-know-no-project-layers', 'clients', ['commands', 'config', 'util'], 'clients run argv and talk to engines; the types they fill live in commands or config, never in plan'),
    only('backup-owns-the-archive', 'backup', ['clients', 'commands', 'config', 'util'], 'the archive format reads and writes through clients; it never reaches state, flows or cli'),
    {
      name: 'backup-runs-through-the-port',
      severity: 'error',
      comment: "the archive's processes (dumps, restores, redis-cli, volume tars) run through the run's port (clients/port.ts, clients/port-exec.ts), so a dry run refuses their changes and a recording test sees them: never through the process runners of clients/runner.ts, clients/session.ts or clients/processes.ts",
      from: { path: '^src/backup/' },
      to: { path: '^src/clients/(runner|session|processes)\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'flows-run-through-the-port',
      severity: 'error',
      comment: "a flow starts processes through its run's effects port (flows/effects.ts: read, change, readStream, changeFrom, readTied, readSession, execIn, sleep), so a dry run refuses every change and a recording test sees every call: only the port's implementations (flows/effects.ts, and flows/remote-target.ts for a server over SSH) import the process runners of clients/runner.ts and clients/session.ts",
      from: { path: '^src/flows/', pathNot: '^src/flows/(effects|remote-target)\\.ts$' },
      to: { path: '^src/clients/(runner|session)\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'flows-never-reach-cli',
      severity: 'error',
      comment: 'flows run on any target and under any front end: they never reach the targets or the CLI above them',
      from: { path: '^src/flows/' },
      to: { path: '^src/(cli|target)/' },
    },
    only('targets-run-flows', 'target', ['flows', 'backup', 'state', 'plan', 'render', 'commands', 'config', 'util'], 'a target (compose, swarm, later a host over SSH) maps the verbs onto flows; its processes run through the effects port the flows hold, never through clients of its own'),
    {
      name: 'cli-picks-no-target',
      severity: 'error',
      comment: 'the CLI gets its target from target/index.ts (targetFor) and calls its verbs; it never imports one kind of target, nor the swarm flows, so no command asks which kind it runs on (test/layer-scan.ts also rejects a kind comparison in src/cli)',
      from: { path: '^src/cli/' },
      to: { path: '^src/(flows/swarm|target/)', pathNot: '^src/target/(index|types)\\.ts$' },
    },
    {
      name: 'cli-goes-through-flows',
      severity: 'error',
      comment: 'CLI handlers parse, print and pick exit codes; engine, process and network work happens in flows (which get the clients)',
      from: { path: '^src/cli/' },
      to: { path: '^src/clients/' },
    },
    {
      name: 'only-clients-spawn-or-connect',
      severity: 'error',
      comment: 'processes, sockets and database/engine connections live in src/clients only',
      from: { path: '^src/', pathNot: '^src/clients/' },
      to: {
        // node_modules may sit above the checkout (a git worktree's link resolves to the main checkout's): match it anywhere
        path: '^(node:)?(child_process|cluster|net|http|https|http2|dgram|dns|dns/promises|tls)$|(^|/)node_modules/(execa|dockerode|pg|ioredis)/',
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'render-writes-nothing',
      severity: 'error',
      comment: 'renderers return text; writing files is flows/render.ts. Only render/templates.ts reads (template files; the unit test checks it imports read functions only)',
      from: { path: '^src/render/', pathNot: '^src/render/templates\\.ts$' },
      to: { path: '^(node:)?fs(/promises)?$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
