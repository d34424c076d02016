#!/usr/bin/env node
// Installs the npm dependencies when they are missing or older than package-lock.json, so that
// `npm run acceptance` and `npm test` work from a fresh clone. Plain JS: it runs before them.
const { createHash } = require('node:crypto');
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.cc-ci-deps-stamp');
const want = createHash('sha256').update(readFileSync(lock)).digest('hex');
// The stamp says which lockfile node_modules came from, and when: a run records it as its coldness.
const installed = () => {
  try {
    return JSON.parse(readFileSync(stamp, 'utf8')).lock;
  } catch {
    return undefined;
  }
};
if (existsSync(stamp) && installed() === want) process.exit(0);

process.stderr.write('deps: installing npm packages (npm ci)\n');
execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
writeFileSync(stamp, JSON.stringify({ lock: want, installedAt: new Date().toISOString() }) + '\n');
