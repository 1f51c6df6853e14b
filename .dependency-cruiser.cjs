// Layer rules, checked in `make test` (scripts/layers.sh). One direction:
// config -> render, plan, commands (pure) -> backup, state, clients -> flows -> cli.
/** @type {import('dependency-cruiser').IConfiguration} */
const pure = '^src/(config|render|plan|commands|util|import)/';
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'no import cycles anywhere', from: {}, to: { circular: true } },
    {
      name: 'pure-stays-pure',
      severity: 'error',
      comment: 'config, render, plan, commands and util decide and describe; they never reach clients, state, backup, flows or cli',
      from: { path: pure },
      to: { path: '^src/(clients|state|backup|flows|cli|validate)/' },
    },
    {
      name: 'config-is-the-bottom',
      severity: 'error',
      comment: 'the stack file model depends on nothing above it',
      from: { path: '^src/config/' },
      to: { path: '^src/(render|plan|commands)/' },
    },
    {
      name: 'import-reads-config-only',
      severity: 'error',
      comment: 'the importer turns a compose file into a stack file: it may use config and util, nothing that renders or runs',
      from: { path: '^src/import/' },
      to: { path: '^src/(render|plan|commands)/' },
    },
    {
      name: 'lower-layers-never-reach-flows-or-cli',
      severity: 'error',
      from: { path: '^src/(clients|state|backup)/' },
      to: { path: '^src/(flows|cli)/' },
    },
    {
      name: 'flows-never-reach-cli',
      severity: 'error',
      from: { path: '^src/flows/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'only-clients-spawn-or-connect',
      severity: 'error',
      comment: 'processes, sockets and database/engine connections live in src/clients only',
      from: { path: '^src/', pathNot: '^src/clients/' },
      to: { path: '^(node:)?(child_process|net|http|https|dgram|tls)$|^node_modules/(execa|dockerode|pg|ioredis)/', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
