import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../../src/paths';

// Every real example the contract tests use carries its source: its folder's README names the
// file, the reference section it was copied from and the upstream path. A fixture added without
// its row is refused here.

const ROOT = join(PROJECT_ROOT, 'test', 'fixtures', 'reference');

for (const tool of readdirSync(ROOT)) {
  test(`every ${tool} reference fixture is listed with its source`, () => {
    const readme = readFileSync(join(ROOT, tool, 'README.md'), 'utf8');
    assert.match(readme, /shared\/reference\/[\w.-]+\.md/, 'the README names the reference file it copies from');
    const rows = new Map(
      readme
        .split('\n')
        .map((l) => /^\| `([^`]+)` \|(.*)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1]!, m[2]!.split('|').map((c) => c.trim())] as const),
    );
    for (const f of readdirSync(join(ROOT, tool)).filter((f) => f !== 'README.md')) {
      const cells = rows.get(f);
      assert.ok(cells, `${tool}/${f} has a row in ${tool}/README.md`);
      assert.ok(cells.filter(Boolean).length >= 3, `${tool}/${f}: what it is, its reference section and its upstream path`);
    }
  });
}
