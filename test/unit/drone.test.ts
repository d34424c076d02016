import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { startDrone, type DroneOptions, type LogLine } from '../../lab/src/drone';
import { tempDir } from '../helpers';

const dir = tempDir('drone-test-');
after(() => rmSync(dir, { recursive: true, force: true }));

const SERVER = 'https://drone.lab.test';
const TOKEN = 'tok-alice';
const script = join(dir, 'pipeline.sh');
writeFileSync(
  script,
  `echo "hello from $PWD"
echo "::step deploy"
echo "PR=$PR RECIPE=$RECIPE REF=$REF"
env | grep -E '^DRONE_(BUILD_NUMBER|REPO|COMMIT_SHA|BUILD_EVENT|BUILD_LINK)=' | sort
echo "to stderr" >&2
[ -n "$SLEEP" ] && sleep "$SLEEP"
echo "::step test"
if [ "$FAIL" = true ]; then echo "failing"; exit 3; fi
echo ok
`,
);

let n = 0;
function options(extra: Partial<DroneOptions> = {}): DroneOptions {
  return {
    statePath: join(dir, `state-${++n}.json`),
    serverUrl: SERVER,
    tokens: { [TOKEN]: 'alice' },
    pipeline: ['bash', script],
    workDir: join(dir, 'ws'),
    ...extra,
  };
}

async function api(base: string, path: string, init: { method?: string; token?: string | null } = {}): Promise<{ status: number; body: any }> {
  const token = init.token === undefined ? TOKEN : init.token;
  const res = await fetch(`${base}${path}`, { method: init.method ?? 'GET', headers: token ? { Authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}

async function waitBuild(
  base: string,
  repo: string,
  number: number,
  until: (b: any) => boolean = (b) => !['pending', 'running'].includes(b.status),
): Promise<any> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { body } = await api(base, `/api/repos/${repo}/builds/${number}`);
    if (until(body)) return body;
    if (Date.now() > deadline) assert.fail(`build ${number} never got there: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const logText = (lines: LogLine[]) => lines.map((l) => l.out).join('');

test('auth: bearer, access_token, guests and unknown tokens', async (t) => {
  const d = await startDrone(options());
  t.after(() => d.close());
  const me = await api(d.url, '/api/user');
  assert.equal(me.status, 200);
  assert.equal(me.body.login, 'alice');
  assert.equal((await api(d.url, `/api/user?access_token=${TOKEN}`, { token: null })).body.login, 'alice');
  for (const token of [null, 'wrong']) {
    assert.deepEqual(await api(d.url, '/api/user', { token }), { status: 401, body: { message: 'Unauthorized' } });
    assert.equal((await api(d.url, '/api/repos/o/ci', { token })).status, 401);
    assert.equal((await api(d.url, '/api/repos/o/ci/builds?PR=1', { token, method: 'POST' })).status, 401);
  }
  const repo = await api(d.url, '/api/repos/o/ci');
  assert.equal(repo.status, 200);
  assert.equal(repo.body.slug, 'o/ci');
  assert.deepEqual(repo.body.permissions, { read: true, write: true, admin: false });
  assert.equal((await api(d.url, '/api/nothing')).status, 404);
  assert.equal((await api(d.url, '/api/repos/o/ci/builds/1', { method: 'DELETE' })).status, 405);
});

test('a custom build: params, the pipeline environment, ::step splitting, logs and success', async (t) => {
  const d = await startDrone(options({ scm: { api: 'http://gitea.lab.test' } }));
  t.after(() => d.close());
  const created = await api(d.url, '/api/repos/recipe-maintainers/cc-ci/builds?branch=main&commit=abc123&PR=7&RECIPE=custom-html&REF=def456', {
    method: 'POST',
  });
  assert.equal(created.status, 200);
  const b = created.body;
  assert.equal(b.number, 1);
  assert.equal(b.event, 'custom');
  assert.equal(b.status, 'pending');
  assert.equal(b.after, 'abc123');
  assert.equal(b.ref, 'refs/heads/main');
  assert.equal(b.trigger, 'alice');
  // link is the commit, as go-scm's Gitea driver gives it (its API URL), not the build page (reference/drone.md §2, §4).
  assert.equal(b.link, 'http://gitea.lab.test/api/v1/repos/recipe-maintainers/cc-ci/git/commits/abc123');
  assert.deepEqual(b.params, { PR: '7', RECIPE: 'custom-html', REF: 'def456' });
  assert.equal(b.stages, undefined);

  const done = await waitBuild(d.url, 'recipe-maintainers/cc-ci', 1);
  assert.equal(done.status, 'success');
  assert.ok(done.started >= done.created && done.finished >= done.started && done.updated >= done.finished);
  assert.equal(done.stages.length, 1);
  const stage = done.stages[0];
  assert.equal(stage.name, 'default');
  assert.equal(stage.status, 'success');
  assert.deepEqual(
    stage.steps.map((s: any) => [s.number, s.name, s.status, s.exit_code]),
    [
      [1, 'run', 'success', 0],
      [2, 'deploy', 'success', 0],
      [3, 'test', 'success', 0],
    ],
  );

  const deploy = await api(d.url, '/api/repos/recipe-maintainers/cc-ci/builds/1/logs/1/2');
  assert.equal(deploy.status, 200);
  const lines = deploy.body as LogLine[];
  assert.deepEqual(
    lines.map((l) => l.pos),
    lines.map((_, i) => i),
  );
  assert.ok(lines.every((l) => typeof l.time === 'number' && l.out.endsWith('\n')));
  const text = logText(lines);
  assert.match(text, /^PR=7 RECIPE=custom-html REF=def456$/m);
  for (const v of [
    'DRONE_BUILD_NUMBER=1',
    'DRONE_REPO=recipe-maintainers/cc-ci',
    'DRONE_COMMIT_SHA=abc123',
    'DRONE_BUILD_EVENT=custom',
    `DRONE_BUILD_LINK=${SERVER}/recipe-maintainers/cc-ci/1`,
  ]) {
    assert.match(text, new RegExp(`^${v}$`, 'm'));
  }
  assert.match(text, /^to stderr$/m);
  assert.doesNotMatch(text, /::step/);
  assert.match(logText((await api(d.url, '/api/repos/recipe-maintainers/cc-ci/builds/1/logs/1/1')).body), /^hello from .*\/ws\/\d+$/m);
  assert.equal(logText((await api(d.url, '/api/repos/recipe-maintainers/cc-ci/builds/1/logs/1/3')).body), 'ok\n');

  assert.deepEqual(await api(d.url, '/api/repos/recipe-maintainers/cc-ci/builds/9'), { status: 404, body: { message: 'sql: no rows in result set' } });
  assert.equal((await api(d.url, '/api/repos/recipe-maintainers/cc-ci/builds/1/logs/1/9')).status, 404);
  assert.deepEqual(await api(d.url, '/api/repos/recipe-maintainers/cc-ci/builds/x'), {
    status: 400,
    body: { message: 'strconv.ParseInt: parsing "x": invalid syntax' },
  });
});

test('a failing pipeline fails its last step and the build; a pipeline that cannot start is an error', async (t) => {
  const d = await startDrone(options());
  t.after(() => d.close());
  await api(d.url, '/api/repos/o/ci/builds?commit=c1&FAIL=true', { method: 'POST' });
  const b = await waitBuild(d.url, 'o/ci', 1);
  assert.equal(b.status, 'failure');
  assert.equal(b.stages[0].status, 'failure');
  assert.equal(b.stages[0].exit_code, 3);
  assert.deepEqual(
    b.stages[0].steps.map((s: any) => [s.name, s.status, s.exit_code]),
    [
      ['run', 'success', 0],
      ['deploy', 'success', 0],
      ['test', 'failure', 3],
    ],
  );
  assert.equal(logText((await api(d.url, '/api/repos/o/ci/builds/1/logs/1/3')).body), 'failing\n');

  const broken = await startDrone(options({ pipeline: [join(dir, 'no-such-pipeline')] }));
  t.after(() => broken.close());
  await api(broken.url, '/api/repos/o/ci/builds', { method: 'POST' });
  const e = await waitBuild(broken.url, 'o/ci', 1);
  assert.equal(e.status, 'error');
  assert.equal(e.error, `exec: "${join(dir, 'no-such-pipeline')}": executable file not found`);
  assert.equal(e.stages[0].status, 'error');
});

test('builds are listed newest first, with page and per_page', async (t) => {
  const d = await startDrone(options({ repos: ['o/ci'] }));
  t.after(() => d.close());
  for (let i = 1; i <= 5; i++) assert.equal((await api(d.url, `/api/repos/o/ci/builds?commit=c${i}`, { method: 'POST' })).body.number, i);
  await waitBuild(d.url, 'o/ci', 5);
  const numbers = async (q: string) => ((await api(d.url, `/api/repos/o/ci/builds${q}`)).body as any[]).map((b) => b.number);
  assert.deepEqual(await numbers(''), [5, 4, 3, 2, 1]);
  assert.deepEqual(await numbers('?per_page=2'), [5, 4]);
  assert.deepEqual(await numbers('?page=2&per_page=2'), [3, 2]);
  assert.deepEqual(await numbers('?page=3&per_page=2'), [1]);
  assert.deepEqual(await numbers('?page=4&per_page=2'), []);
  const list = (await api(d.url, '/api/repos/o/ci/builds')).body as any[];
  assert.ok(list.every((b) => b.stages === undefined && b.status === 'success'));
  // Builds run one at a time, in order.
  for (let i = 1; i < 5; i++) assert.ok(list[5 - i].finished <= list[4 - i].started);
  assert.deepEqual(await api(d.url, '/api/repos/o/other'), { status: 404, body: { message: 'Not Found' } });
});

test('state persists; a build running when the server stopped becomes error, pending ones run after a restart', async () => {
  const opts = options();
  const d1 = await startDrone(opts);
  await api(d1.url, '/api/repos/o/ci/builds?commit=ok', { method: 'POST' });
  await waitBuild(d1.url, 'o/ci', 1);
  await api(d1.url, '/api/repos/o/ci/builds?commit=slow&SLEEP=30', { method: 'POST' });
  await api(d1.url, '/api/repos/o/ci/builds?commit=queued', { method: 'POST' });
  await waitBuild(d1.url, 'o/ci', 2, (b) => b.status === 'running' && b.stages[0].steps?.some((s: any) => s.name === 'deploy'));
  assert.equal((await api(d1.url, '/api/repos/o/ci/builds/3')).body.status, 'pending');
  // A running step's log is not there yet (the runner uploads it when the step ends).
  assert.equal((await api(d1.url, '/api/repos/o/ci/builds/2/logs/1/2')).status, 404);
  const stopped = Date.now();
  await d1.close();
  assert.ok(Date.now() - stopped < 5000, 'close kills the running pipeline');
  assert.equal(JSON.parse(readFileSync(opts.statePath, 'utf8')).builds[1].status, 'running');

  const d2 = await startDrone(opts);
  try {
    assert.equal((await api(d2.url, '/api/repos/o/ci/builds/1')).body.status, 'success');
    const reaped = (await api(d2.url, '/api/repos/o/ci/builds/2')).body;
    assert.equal(reaped.status, 'error');
    assert.ok(reaped.finished > 0);
    assert.equal(reaped.stages[0].status, 'error');
    assert.deepEqual(
      reaped.stages[0].steps.map((s: any) => [s.name, s.status]),
      [
        ['run', 'success'],
        ['deploy', 'error'],
      ],
    );
    assert.match(logText((await api(d2.url, '/api/repos/o/ci/builds/2/logs/1/2')).body), /^PR= RECIPE= REF=$/m);
    assert.equal((await waitBuild(d2.url, 'o/ci', 3)).status, 'success');
    assert.equal((await api(d2.url, '/api/repos/o/ci/builds', { method: 'POST' })).body.number, 4);
  } finally {
    await d2.close();
  }
});

test('the drone-server command serves until SIGTERM', async () => {
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, '# login token\nalice tok-cli\n');
  const p = spawn(
    resolve(__dirname, '../../lab/standins/drone-server'),
    [
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--state',
      join(dir, 'cli-state.json'),
      '--server-url',
      SERVER,
      '--tokens-file',
      tokens,
      '--workdir',
      join(dir, 'cli-ws'),
      '--',
      'bash',
      '-c',
      'echo "$RECIPE"',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  p.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const url = await new Promise<string>((res, rej) => {
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out);
      if (m) res(m[1]!);
    });
    p.on('exit', (code) => rej(new Error(`exited ${code}: ${err}`)));
  });
  try {
    assert.equal((await api(url, '/api/user', { token: 'tok-cli' })).body.login, 'alice');
    await api(url, '/api/repos/o/ci/builds?RECIPE=custom-html', { method: 'POST', token: 'tok-cli' });
    const deadline = Date.now() + 15_000;
    let b: any;
    while ((b = (await api(url, '/api/repos/o/ci/builds/1', { token: 'tok-cli' })).body).status !== 'success') {
      assert.ok(Date.now() < deadline, JSON.stringify(b));
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(logText((await api(url, '/api/repos/o/ci/builds/1/logs/1/1', { token: 'tok-cli' })).body), 'custom-html\n');
  } finally {
    p.kill('SIGTERM');
  }
  const code = await new Promise((res) => p.on('exit', res));
  assert.equal(code, 0, err);
  assert.doesNotMatch(out + err, /tok-cli/);
});
