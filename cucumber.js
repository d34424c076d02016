// cucumber-js configuration. `npm run acceptance` (bin/acceptance.ts) loads this file and adds
// the run's own formatters (reports/<run-id>/...) and world parameters on top.
module.exports = {
  default: {
    paths: ['features/**/*.feature'],
    requireModule: ['ts-node/register/transpile-only'],
    require: ['features/support/**/*.ts', 'features/step_definitions/**/*.ts'],
    format: ['pretty'],
    formatOptions: { snippetInterface: 'async-await' },
    strict: true,
  },
};
