import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FAULTS } from '../../lab/src/faults';
import { LAB_PACKAGES } from '../../lab/src/preflight';
import { PROJECT_ROOT } from '../../src/paths';

const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');

test('the README lists every fault with its criteria and the checks it turns red', () => {
  for (const f of FAULTS) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${f.name}\` |`));
    assert.ok(row, `README has a row for ${f.name}`);
    assert.match(row, new RegExp(`\\| ${f.criteria.join(', ')} \\|`));
    for (const tag of f.red) assert.ok(row.includes(`\`${tag}\``), `${f.name} row names ${tag}`);
    for (const tag of f.broken ?? []) assert.ok(row.includes(`\`${tag}\` (broken)`), `${f.name} row names ${tag} as broken`);
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

test('the README lists every scenario with its criterion, feature and tag, and no scenario that is gone', () => {
  const rows = new Set(readme.split('\n').filter((l) => /^\| (C\d|e2e) \| `[\w.]+\.feature` \|/.test(l)));
  const featuresDir = join(PROJECT_ROOT, 'features');
  let scenarios = 0;
  for (const file of readdirSync(featuresDir).filter((f) => f.endsWith('.feature'))) {
    const lines = readFileSync(join(featuresDir, file), 'utf8').split('\n');
    const criterion = /^@(\S+)/.exec(lines[0] ?? '')?.[1];
    lines.forEach((line, i) => {
      const name = /^\s*Scenario: (.*)$/.exec(line)?.[1];
      if (!name) return;
      const tag = /@(?:c\d|e2e)-[\w-]+/.exec(lines[i - 1] ?? '')?.[0];
      const row = `| ${criterion} | \`${file}\` | \`${tag}\` | ${name.replace(/\|/g, '\\|')} |`;
      assert.ok(rows.delete(row), `README row: ${row}`);
      scenarios++;
    });
  }
  assert.ok(scenarios > 30);
  assert.deepEqual([...rows], [], 'README rows without a scenario');
});
