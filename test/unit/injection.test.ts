import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { shellQuote } from '../../src/drivers/host';
import { UsageError } from '../../src/errors';
import { PROFILES_DIR, PROJECT_ROOT } from '../../src/paths';
import { loadProfile } from '../../src/profile/load';
import { substitute } from '../../src/tasks/throwaway';
import { tempDir } from '../helpers';

// No shell injection: every string field of a profile that reaches a command refuses shell
// syntax, and the places where values meet a shell (the ssh command line, the install steps'
// placeholders) quote them. Each payload would create a file; none may appear.

const dir = tempDir('injection-');
const marker = join(dir, 'injected');
after(() => rmSync(dir, { recursive: true, force: true }));

const PAYLOADS = [
  `$(touch ${marker})`,
  `--upload-pack=${marker}`,
  `;touch ${marker}`,
  `\`touch ${marker}\``,
  `|touch ${marker}`,
  `&& touch ${marker}`,
  `\ntouch ${marker}`,
  `'; touch ${marker}; '`,
  `--upload-pack=touch ${marker};`,
];

/** Every string field of the lab profile that reaches a command on a host or here. */
const FIELDS: [string, (p: any, v: string) => void][] = [
  ['repos.base.url', (p, v) => (p.repos.base.url = v)],
  ['repos.base.branch', (p, v) => (p.repos.base.branch = v)],
  ['repos.secrets.url', (p, v) => (p.repos.secrets.url = v)],
  ['flake.workDir', (p, v) => (p.flake.workDir = `/root/${v}`)],
  ['repos.base.checkout', (p, v) => (p.repos.base.checkout = `/root/${v}`)],
  ['flake.configuration', (p, v) => (p.flake.configuration = v)],
  ['secrets.keyFile', (p, v) => (p.secrets.keyFile = `/var/lib/${v}`)],
  ['secrets.file', (p, v) => (p.secrets.file = v)],
  ['tls.fullchain', (p, v) => (p.tls.fullchain = `/var/lib/${v}`)],
  ['docs.install', (p, v) => ((p.docs ??= {}).install = v)],
  ['incus.project', (p, v) => (p.incus.project = v)],
  ['throwaway.namePrefix', (p, v) => (p.throwaway.namePrefix = v)],
  ['throwaway.placeholders', (p, v) => (p.throwaway.placeholders = { '<base-repo-url>': v })],
  ['hosts.cc-ci.user', (p, v) => (p.hosts['cc-ci'].user = v)],
  ['hosts.cc-ci.address', (p, v) => (p.hosts['cc-ci'].address = v)],
];

const lab = parse(readFileSync(join(PROFILES_DIR, 'lab.yaml'), 'utf8'));

test('every profile field that reaches a command refuses each payload, naming the field', () => {
  let tried = 0;
  for (const [field, set] of FIELDS) {
    for (const payload of PAYLOADS) {
      // Behind "/root/" an option-looking word is only a file name: a path is never read as an option.
      if (payload.startsWith('--') && /\/\$\{v\}/.test(set.toString())) continue;
      const p = structuredClone(lab);
      try {
        set(p, payload);
      } catch {
        continue; // the field is not in the lab profile's shape
      }
      const file = join(dir, `p${tried++}.yaml`);
      writeFileSync(file, stringify(p));
      // Refused for what the value is, at that very field: not as an unknown key beside it.
      assert.throws(
        () => loadProfile(file, { LAB_DIR: '/lab' }),
        (e: unknown) =>
          e instanceof UsageError &&
          new RegExp(`^ {2}- ${field.replace(/\./g, '\\.')}\\b`, 'm').test(e.message) &&
          !/unknown key|unrecognized/i.test(e.message),
        `${field} = ${JSON.stringify(payload)}`,
      );
    }
  }
  assert.ok(tried >= 110, `${tried} tried`);
  assert.ok(!existsSync(marker));
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  assert.ok(
    readme.includes(`${PAYLOADS.length} payloads × ${FIELDS.length} profile fields that reach a command (${tried} combinations`),
    `the README's figures: ${PAYLOADS.length} payloads, ${FIELDS.length} fields, ${tried} combinations`,
  );
});

test('a value quoted for the ssh command line is data to the shell, whatever it holds', () => {
  for (const payload of [...PAYLOADS, "it's", '"$HOME"', '\\', '*', '~root', '#x', '\t \n', 'é€😀']) {
    const out = execFileSync('bash', ['-c', `printf '%s' ${shellQuote([payload])}`], { encoding: 'utf8' });
    assert.equal(out, payload);
  }
  assert.ok(!existsSync(marker), 'no payload ran');
});

test("the install steps' placeholders go in quoted: a value is one word, never shell", () => {
  const block = 'git clone --recursive <base-repo-url> /dev/null/x 2>/dev/null; printf "%s" <base-repo-url>';
  for (const payload of PAYLOADS) {
    const out = execFileSync('bash', ['-c', substitute(block, { '<base-repo-url>': payload })], { encoding: 'utf8' });
    assert.equal(out, payload);
  }
  assert.ok(!existsSync(marker), 'no payload ran');
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('injected')),
    [],
  );
});
