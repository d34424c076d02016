import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { buildPage, Drone } from '../../src/drivers/drone';
import { JsonClient } from '../../src/drivers/http';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { startDrone } from '../../lab/src/drone';
import { tempDir } from '../helpers';

// Contract tests: Drone 2.24.0 as the reference records it (test/fixtures/reference/drone, see its
// README) against (a) the harness's Drone driver, fed the real answers, and (b) the lab's Drone
// stand-in, asked what the E2E asks. Keys are compared in struct order, type by type.

const FIXTURES = resolve(__dirname, '../fixtures/reference/drone');
const fixture = (name: string): any => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));

interface Field {
  key: string;
  goType: string;
  omitempty: boolean;
}
const STRUCTS = new Map<string, Field[]>();
for (const line of readFileSync(join(FIXTURES, 'structs.tsv'), 'utf8').trim().split('\n').slice(1)) {
  const [struct, key, goType, omit] = line.split('\t') as [string, string, string, string];
  STRUCTS.set(struct, [...(STRUCTS.get(struct) ?? []), { key, goType, omitempty: omit === 'yes' }]);
}
const NESTED: Record<string, string> = { stages: 'Stage', steps: 'Step' };

function jsonType(goType: string): string {
  if (/^u?int\d*$/.test(goType)) return 'integer';
  if (goType === 'string') return 'string';
  if (goType === 'bool') return 'boolean';
  if (goType.startsWith('map[')) return 'object';
  return 'array';
}
function typeOf(v: unknown): string {
  if (Number.isInteger(v)) return 'integer';
  if (Array.isArray(v)) return 'array';
  return v === null ? 'null' : typeof v;
}

/** Where `value` differs from a Go struct's JSON: unknown keys, keys out of order, wrong types, missing keys. */
function shapeProblems(struct: string, value: Record<string, unknown>, at = '$', complete = true): string[] {
  const fields = STRUCTS.get(struct)!;
  const problems: string[] = [];
  let last = -1;
  for (const [key, v] of Object.entries(value)) {
    const i = fields.findIndex((f) => f.key === key);
    if (i < 0) {
      problems.push(`${at}.${key}: not a field of ${struct}`);
      continue;
    }
    if (i < last) problems.push(`${at}.${key}: out of struct order`);
    last = Math.max(last, i);
    const want = jsonType(fields[i]!.goType);
    if (typeOf(v) !== want) problems.push(`${at}.${key}: ${typeOf(v)}, not ${want} (${fields[i]!.goType})`);
    const nested = NESTED[key];
    if (nested && Array.isArray(v)) v.forEach((item, n) => problems.push(...shapeProblems(nested, item, `${at}.${key}[${n}]`, complete)));
  }
  if (complete)
    for (const f of fields)
      if (!f.omitempty && !(f.key in value) && !(struct === 'Build' && f.key === 'stages')) problems.push(`${at}.${f.key}: missing (not omitempty)`);
  return problems;
}

test('the shape check itself: order, types and missing keys are seen', () => {
  assert.deepEqual(shapeProblems('Step', { id: 1, step_id: 2, number: 1, name: 'x', status: 'success', exit_code: 0, version: 1 }), []);
  assert.deepEqual(shapeProblems('Step', { step_id: 2, id: 1, number: '1', name: 'x', status: 'success', exit_code: 0, version: 1, link: '' }), [
    '$.id: out of struct order',
    '$.number: string, not integer (int)',
    '$.link: not a field of Step',
  ]);
  assert.deepEqual(shapeProblems('Step', { id: 1 }).length, 6);
});

test("the reference's own examples have the struct's shape (the docs example omits trigger and timestamp, as the reference notes)", () => {
  assert.deepEqual(shapeProblems('Build', fixture('build-create.json')), []);
  assert.deepEqual(shapeProblems('Build', fixture('build-info.json'), '$', false), []);
  assert.deepEqual(
    shapeProblems('Build', fixture('build-info.json')).map((p) => p.replace(/:.*/, '')),
    ['$.trigger', '$.timestamp'],
  );
});

test("the driver reads Drone's real build: status, stages, steps, times as Unix seconds; the page is {server}/{owner}/{repo}/{number}", async (t) => {
  const real = fixture('build-info.json');
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.url?.startsWith('/api/repos/octocat/hello-world/builds/42') ? real : [{ ...real, stages: undefined }]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const dir = tempDir('drone-contract-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const drone = new Drone(new JsonClient('drone', base, 'Bearer x', new Recorder(dir, dir, new Redactor(), () => {}), 2000, 1), 'octocat', 'hello-world');
  const b = await drone.build(42);
  assert.equal(b.status, 'success');
  assert.equal(b.number, 42);
  assert.deepEqual(
    b.stages?.map((s) => [s.number, s.name, s.status, s.steps?.map((st) => [st.number, st.name, st.status])]),
    [[1, 'default', 'success', [[1, 'clone', 'success']]]],
  );
  assert.ok(b.finished > b.started && new Date(b.started * 1000).getUTCFullYear() === 2019);
  assert.equal((await drone.builds())[0]!.number, 42);
  assert.equal(buildPage('https://drone.example.org/', 'octocat/hello-world', 42), 'https://drone.example.org/octocat/hello-world/42');
});

const labDir = tempDir('drone-contract-lab-');
after(() => rmSync(labDir, { recursive: true, force: true }));

test("the lab's Drone answers a custom build as Drone 2.24 does: 200, the Build struct's keys in order, no stages; the finished build and the list too", async (t) => {
  const script = join(labDir, 'pipeline.sh');
  writeFileSync(script, 'echo "::step test"\necho ok\n');
  const d = await startDrone({
    statePath: join(labDir, 'state.json'),
    serverUrl: 'https://drone.example',
    tokens: { tok: 'alice' },
    pipeline: ['bash', script],
    workDir: join(labDir, 'ws'),
    scm: { api: 'http://gitea.example' },
  });
  t.after(() => d.close());
  const ask = async (path: string, method = 'GET') => {
    const res = await fetch(`${d.url}${path}`, { method, headers: { Authorization: 'Bearer tok' } });
    return { status: res.status, body: (await res.json()) as any };
  };
  // Every query key but access_token, commit and branch is a parameter (reference: handler/api/repos/builds/create.go).
  const created = await ask('/api/repos/acme/app/builds?branch=main&commit=3f2c&DEPLOY=yes&access_token=tok', 'POST');
  assert.equal(created.status, 200);
  assert.deepEqual(shapeProblems('Build', created.body), []);
  assert.equal(created.body.stages, undefined);
  // Every key the real created build has, the stand-in's has, with the same type and, where the reference fixes it, the same value.
  const real = fixture('build-create.json');
  assert.deepEqual(Object.keys(created.body), Object.keys(real));
  for (const key of [
    'status',
    'event',
    'action',
    'timestamp',
    'before',
    'after',
    'ref',
    'source_repo',
    'source',
    'target',
    'sender',
    'trigger',
    'params',
    'started',
    'finished',
  ]) {
    assert.deepEqual(created.body[key], key === 'before' || key === 'after' ? '3f2c' : real[key], key);
  }
  assert.equal(created.body.link, 'http://gitea.example/api/v1/repos/acme/app/git/commits/3f2c');

  let done: any;
  for (const deadline = Date.now() + 15_000; ; await new Promise((r) => setTimeout(r, 50))) {
    done = (await ask('/api/repos/acme/app/builds/1')).body;
    if (!['pending', 'running'].includes(done.status) || Date.now() > deadline) break;
  }
  assert.equal(done.status, 'success');
  assert.deepEqual(shapeProblems('Build', done), []);
  assert.ok(done.stages.length === 1 && done.stages[0].steps.length >= 1);
  const list = await ask('/api/repos/acme/app/builds');
  assert.equal(list.status, 200);
  assert.ok(Array.isArray(list.body) && list.body.length === 1);
  assert.deepEqual(shapeProblems('Build', list.body[0]), []);
  assert.equal(list.body[0].stages, undefined, 'list items carry no stages (reference §6)');
});
