import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FAULTS } from '../../src/lab/faults';
import { LAB_PACKAGES } from '../../src/lab/preflight';
import { PROJECT_ROOT } from '../../src/paths';

const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');

test('the README lists every fault with its criteria and the checks it turns red', () => {
  for (const f of FAULTS) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${f.name}\` |`));
    assert.ok(row, `README has a row for ${f.name}`);
    assert.match(row, new RegExp(`\\| ${f.criteria.join(', ')} \\|`));
    for (const tag of f.red) assert.ok(row.includes(`\`${tag}\``), `${f.name} row names ${tag}`);
  }
});

test("the README's two commands are the package's scripts", () => {
  const scripts = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).scripts;
  assert.match(readme, /^npm run acceptance +#/m);
  assert.match(readme, /^npm test +#/m);
  assert.ok(scripts.acceptance && scripts.test);
  assert.match(readFileSync(join(PROJECT_ROOT, '.ci', 'run'), 'utf8'), /^npm test$/m);
});

test('the README names every Debian package the lab installs', () => {
  const para = readme.slice(readme.indexOf('Both install what they need'), readme.indexOf('## Command line'));
  const listed = /the Debian packages `([^`]+)`/.exec(para.replace(/\n/g, ' '))?.[1]?.split(/\s+/) ?? [];
  assert.deepEqual([...new Set(Object.values(LAB_PACKAGES))].sort(), [...listed].sort());
});
