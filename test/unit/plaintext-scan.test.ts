import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Host } from '../../src/drivers/host';
import { LocalTransport } from '../../src/drivers/local';
import { SopsOnHost, type ScanReport, type ScanSecret } from '../../src/drivers/sops';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { PROJECT_ROOT } from '../../src/paths';
import { tempDir } from '../helpers';

// The plaintext scan (src/remote/plaintext-scan.sh) run here, against a store, a checkout and a
// git history with values planted in every form it must find, and in none of the others.

const FAKE_SOPS = join(PROJECT_ROOT, 'test', 'fixtures', 'scan', 'fake-sops');
const tmp = tempDir('scan-test-');
const values = join(tmp, 'values');
const store = join(tmp, 'store');
const repo = join(tmp, 'repo');
const runDir = join(tmp, 'run');

// Long enough for whole base64 lines at 64 and 76 columns; with characters that percent-encode.
const SECRETS: Record<string, string> = {
  raw_token: 'raw-Tok3n-0123456789abcdef',
  b64_offset: 'offset-secret-value-7f3a9c',
  b64_echo: 'echo-secret-value-11aa22bb',
  mime: 'M'.repeat(3) + Array.from({ length: 40 }, (_, i) => `line${i}-${(i * 7919).toString(36)}`).join('/'),
  hex_value: 'hexed-secret-9d8c7b6a5f',
  url_value: 'url secret/with?reserved=chars&more',
  gz_value: 'gzipped-secret-value-5e4d3c',
  xz_value: 'xz-compressed-secret-4c3b2a',
  commit_msg: 'commit-message-secret-8899aabb',
  tag_msg: 'tag-message-secret-ccddeeff',
  reflog_only: 'reflog-only-secret-00112233',
  dangling: 'dangling-blob-secret-44556677',
  nowhere: 'this-one-is-nowhere-at-all-1234',
  tiny: 'abc',
};

const sh = (cmd: string, cwd = tmp) =>
  execFileSync('bash', ['-ec', cmd], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
  });
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

function sopsOn(opts: { timeoutMs?: number } = {}): SopsOnHost {
  const recorder = new Recorder(runDir, runDir, new Redactor(), () => {});
  const host = new Host('here', new LocalTransport(), recorder, 60_000);
  return new SopsOnHost(host, [FAKE_SOPS], ['openssl'], '/nonexistent-key', opts.timeoutMs ?? 60_000);
}

const secrets: ScanSecret[] = Object.keys(SECRETS).map((name) => ({ name, extract: `["${name}"]` }));
let report: ScanReport;

before(async () => {
  mkdirSync(values);
  for (const [k, v] of Object.entries(SECRETS)) writeFileSync(join(values, k), v);
  process.env.FAKE_SOPS_VALUES = values;
  mkdirSync(join(store, 'abc-pkg', 'share'), { recursive: true });
  const f = (name: string, content: string | Buffer) => writeFileSync(join(store, 'abc-pkg', name), content);
  f('env', `TOKEN=${SECRETS.raw_token}\n`);
  f('b64-offset', `data=${b64('xy' + SECRETS.b64_offset + ' and more text after it')}\n`);
  f('b64-echo', `${b64(SECRETS.b64_echo + '\n')}\n`);
  f('mime.eml', `Content-Transfer-Encoding: base64\n\n${b64('preamble:' + SECRETS.mime + ':trailer').replace(/(.{76})/g, '$1\n')}\n`);
  f('hex', `key=${Buffer.from(SECRETS.hex_value).toString('hex').toUpperCase()}\n`);
  f('url', `https://example.test/?q=${encodeURIComponent(SECRETS.url_value)}\n`);
  writeFileSync(join(store, 'abc-pkg', 'share', 'doc.gz'), gzipSync(`the value ${SECRETS.gz_value} compressed\n`));
  writeFileSync(join(store, 'abc-pkg', 'share', 'x.txt'), `the value ${SECRETS.xz_value} compressed\n`);
  sh('xz share/x.txt', join(store, 'abc-pkg'));
  writeFileSync(join(store, 'abc-pkg', 'share', 'truncated.gz'), gzipSync('a long enough text, cut short\n'.repeat(20)).subarray(0, 20));
  f('innocent', 'nothing to see here\n');

  mkdirSync(repo);
  sh(
    [
      'git init -q -b main',
      'echo hello > README && git add README && git commit -q -m "first"',
      `git commit -q --allow-empty -m "configure with ${SECRETS.commit_msg}"`,
      `git tag -a v1 -m "release notes: ${SECRETS.tag_msg}"`,
      `echo "${SECRETS.reflog_only}" > leak && git add leak && git commit -q -m "oops"`,
      'git reset -q --hard HEAD~1',
      `echo "${SECRETS.dangling}" | git hash-object -w --stdin > /dev/null`,
    ].join('\n'),
    repo,
  );
  const r = await sopsOn().scan(
    '',
    secrets,
    [
      { kind: 'store', dir: store },
      { kind: 'tree', dir: repo },
    ],
    8,
    `unit${process.pid}`,
  );
  report = r.report;
  assert.equal(r.result.exitCode, 0, r.result.stderr);
});

after(() => rmSync(tmp, { recursive: true, force: true }));

const found = (name: string) => report.hits.filter((h) => h.name === name).map((h) => `${h.kind} ${h.path}`);

test('a plain value, and its base64 in every alignment, whole or wrapped at 76 columns, is found', () => {
  assert.deepEqual(found('raw_token'), [`store ${store}/abc-pkg/env`]);
  assert.deepEqual(found('b64_offset'), [`store ${store}/abc-pkg/b64-offset`]);
  assert.deepEqual(found('b64_echo'), [`store ${store}/abc-pkg/b64-echo`]);
  assert.deepEqual(found('mime'), [`store ${store}/abc-pkg/mime.eml`]);
});

test('hex (either case) and percent-encoded values are found', () => {
  assert.deepEqual(found('hex_value'), [`store ${store}/abc-pkg/hex`]);
  assert.deepEqual(found('url_value'), [`store ${store}/abc-pkg/url`]);
});

test('compressed files are opened', () => {
  assert.deepEqual(found('gz_value'), [`store ${store}/abc-pkg/share/doc.gz`]);
  assert.deepEqual(found('xz_value'), [`store ${store}/abc-pkg/share/x.txt.xz`]);
  const c = report.coverage.find((x) => x.kind === 'compressed' && x.dir === store);
  assert.equal(c?.files, 3);
  // One that does not decompress is named, not counted as searched and clean.
  assert.equal(c?.undecodable, 1);
  assert.deepEqual(report.undecodable, [{ kind: 'store', path: `${store}/abc-pkg/share/truncated.gz` }]);
});

test("a checkout's objects are searched: commit and tag messages, commits only in the reflog, dangling blobs", () => {
  // The reflog's text holds commit subjects too: the plain search of the checkout finds them there.
  assert.ok(
    found('commit_msg').some((f) => /^tree-objects commit-message:[0-9a-f]{40}$/.test(f)),
    found('commit_msg').join(),
  );
  assert.deepEqual(found('tag_msg'), ['tree-objects tag-message:v1']);
  assert.ok(
    found('reflog_only').some((f) => /^tree-objects [0-9a-f]{40}:leak$/.test(f)),
    found('reflog_only').join(),
  );
  assert.match(found('dangling').join(), /^tree-objects dangling-blob:[0-9a-f]{40}$/);
  const c = report.coverage.find((x) => x.kind === 'tree-objects');
  assert.ok(Number(c?.objects) >= 8, JSON.stringify(c));
});

test('what is nowhere is not found, short values are skipped, and the scan says it finished', () => {
  assert.deepEqual(found('nowhere'), []);
  assert.deepEqual(
    report.skipped.map((s) => s.name),
    ['tiny'],
  );
  assert.equal(report.searched.length, Object.keys(SECRETS).length - 1);
  assert.equal(report.done, true);
  assert.ok(report.memory);
});

test('a git error is an error of the scan, naming the directory, never "no hit"', async () => {
  const broken = join(tmp, 'broken-repo');
  sh(`git init -q ${broken} && cd ${broken} && echo x > f && git add f && git commit -q -m x`);
  const obj = sh('find .git/objects -type f -path "*/objects/??/*" | head -n 1', broken).trim();
  sh(`chmod u+w ${obj} && printf 'garbage' > ${obj}`, broken);
  const r = await sopsOn().scan('', secrets.slice(0, 1), [{ kind: 'history', dir: join(broken, '.git') }], 8, `unitbad${process.pid}`);
  assert.equal(r.result.exitCode, 4);
  assert.equal(r.report.error?.dir, join(broken, '.git'));
  assert.match(r.report.error!.message, /git cat-file/);
  assert.equal(r.report.done, false);
});

test('a long history with a wide tree: every planted value is found and the scan finishes (no reader stops its writer)', async () => {
  // 1 500 files make each ls-tree longer than a pipe's buffer: a reader that exits at its first
  // match killed ls-tree with SIGPIPE, and under pipefail the scan stopped after one hit.
  const wide = join(tmp, 'wide-repo');
  const planted = ['raw_token', 'hex_value', 'gz_value'] as const;
  const lines: string[] = [];
  const files = Array.from({ length: 1500 }, (_, i) => `M 644 inline docs/d${i % 30}/file-with-a-long-name-${i}.md\ndata 2\nx\n`).join('');
  for (let i = 1; i <= 12; i++) {
    const leak = i % 4 === 0 ? planted[i / 4 - 1] : undefined;
    const body = `commit ${i}\n${leak ? `${SECRETS[leak]}\n` : ''}`;
    lines.push('commit refs/heads/main', `mark :${i}`, `committer t <t@t> ${1700000000 + i} +0000`, 'data 2', 'c', ...(i > 1 ? [`from :${i - 1}`] : []));
    lines.push(`${i === 1 ? files : ''}M 644 inline a-notes.md`, `data ${Buffer.byteLength(body)}`, body, '');
  }
  sh(`git init -q -b main ${wide}`);
  execFileSync('git', ['-C', wide, 'fast-import', '--quiet'], { input: lines.join('\n') + '\n' });
  const r = await sopsOn().scan(
    '',
    secrets.filter((x) => (planted as readonly string[]).includes(x.name)),
    [{ kind: 'history', dir: join(wide, '.git') }],
    8,
    `unitwide${process.pid}`,
  );
  assert.equal(r.report.done, true, JSON.stringify(r.report.error));
  assert.deepEqual([...new Set(r.report.hits.map((h) => h.name))].sort(), [...planted].sort());
  assert.ok(
    r.report.hits.every((h) => /^[0-9a-f]{40}:a-notes\.md$/.test(h.path)),
    JSON.stringify(r.report.hits),
  );
});

test('a scan killed half-way leaves no process and no plaintext behind', async () => {
  process.env.FAKE_SOPS_HANG = '1';
  try {
    const sops = sopsOn({ timeoutMs: 1500 });
    await assert.rejects(sops.scan('', secrets.slice(0, 1), [{ kind: 'store', dir: store }], 8, `unitkill${process.pid}`), /timed out/);
  } finally {
    delete process.env.FAKE_SOPS_HANG;
  }
  const left = sh(
    `for p in /proc/[0-9]*; do { tr '\\0' '\\n' < $p/environ; } 2>/dev/null | grep -qx CC_CI_SCAN_TAG=unitkill${process.pid} && echo \${p#/proc/}; done; true`,
  );
  assert.equal(left.trim(), '', 'no process of the scan is left');
  for (const dir of ['/dev/shm', '/run', tmpdir()]) {
    for (const e of readdirSync(dir)) assert.doesNotMatch(e, /^cc-ci-scan\.unitkill/, `${dir}/${e}`);
  }
  const shm = sh(`grep -rlF -- '${SECRETS.raw_token}' /dev/shm 2>/dev/null || true`);
  assert.equal(shm.trim(), '');
});
