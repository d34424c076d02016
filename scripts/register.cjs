'use strict';
// `node -r ./scripts/register.cjs file.ts`: TypeScript for Node, transpile-only as ts-node's
// transpile-only mode does it (tsconfig.json's options, no type check: `npm run typecheck` does
// that), with each file's output cached on disk by the hash of its source and the options. The
// CLI, the lab's stand-ins and every test process start from the cache instead of transpiling
// their whole module graph again (half a second to three seconds of CPU each).
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const cacheDir = path.join(root, 'node_modules', '.cache', 'cc-ci-ts');
const tsVersion = JSON.parse(fs.readFileSync(require.resolve('typescript/package.json', { paths: [root] }), 'utf8')).version;
const tsconfig = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.json'), 'utf8'));
const optionsJson = { ...tsconfig.compilerOptions, ...tsconfig['ts-node']?.compilerOptions };
const salt = `${tsVersion}\0${JSON.stringify(optionsJson)}\0v1\0`;

let ts;
let options;
function transpile(source, filename) {
  if (!ts) {
    ts = require(require.resolve('typescript', { paths: [root] }));
    options = ts.convertCompilerOptionsFromJson(optionsJson, root).options;
    // As ts-node emits for a CommonJS package: require() for imports, real import() kept.
    Object.assign(options, {
      module: ts.ModuleKind.NodeNext,
      noEmit: false,
      sourceMap: false,
      inlineSourceMap: true,
      inlineSources: false,
      declaration: false,
    });
  }
  const out = ts.transpileModule(source, { fileName: filename, compilerOptions: options, reportDiagnostics: false });
  return out.outputText;
}

let seq = 0;
function compiled(source, filename) {
  const hash = createHash('sha256').update(salt).update(filename).update('\0').update(source).digest('hex');
  const file = path.join(cacheDir, hash.slice(0, 2), `${hash}.js`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    /* not cached yet */
  }
  const js = transpile(source, filename);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${++seq}.tmp`;
    fs.writeFileSync(tmp, js);
    fs.renameSync(tmp, file);
  } catch {
    /* a read-only or full disk: run without caching */
  }
  return js;
}

require.extensions['.ts'] = (module, filename) => {
  module._compile(compiled(fs.readFileSync(filename, 'utf8'), filename), filename);
};
// Stack traces point at the TypeScript lines (the output carries an inline source map).
process.setSourceMapsEnabled(true);
