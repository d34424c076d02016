import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { converged, Docker, parseReplicas } from '../../src/drivers/docker';
import { Host, type ExecRequest, type RawResult, type Transport } from '../../src/drivers/host';
import { labelsOf, LABEL, CREATOR, parseIncusBytes, provisioningOf, type Instance } from '../../src/drivers/incus';
import { LocalTransport } from '../../src/drivers/local';
import { SopsOnHost } from '../../src/drivers/sops';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { validateConfig } from '../../lab/src/incus';
import { PROJECT_ROOT } from '../../src/paths';
import { SopsExit } from '../../lab/src/sops/exit-codes';
import { failedUnitsOf } from '../../src/drivers/systemd';
import { settle } from '../../src/tasks/throwaway';
import { tempDir } from '../helpers';

// Contract tests for the command-line tools the harness reads: docker (Swarm), systemctl, incus and
// sops, as the real tools answer (examples in test/fixtures/reference/<tool>, see each README),
// against (a) the harness's parsers, fed the real answers, and (b) the lab's stand-ins, asked the
// same questions. Tables are compared by columns, their order and their layout rule; JSON by keys,
// their order and their types; commands by exit code and the start of what they print.

const REF = join(PROJECT_ROOT, 'test', 'fixtures', 'reference');
const STANDINS = join(PROJECT_ROOT, 'lab', 'standins');
const ref = (tool: string, name: string): string => readFileSync(join(REF, tool, name), 'utf8');
/** Rows of a fixture table: tab-separated, `#` lines are its header. */
const tsv = (tool: string, name: string): string[][] =>
  ref(tool, name)
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split('\t'));

const tmp = tempDir('contract-cli-');
after(() => rmSync(tmp, { recursive: true, force: true }));

function recorder(): Recorder {
  return new Recorder(join(tmp, 'run'), join(tmp, 'run'), new Redactor(), () => {});
}

// ---- shapes ----

type JsonType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';
const jsonType = (v: unknown): JsonType => (v === null ? 'null' : Array.isArray(v) ? 'array' : (typeof v as JsonType));

/**
 * How `actual` differs from `expected` in shape: the same keys in the same order (Go's encoders
 * keep struct order, or sort map keys), the same JSON types, recursively. `nullable` paths may be
 * null on either side; under `maps` the keys are data (config keys, interface names), not shape.
 */
function shapeDiff(expected: unknown, actual: unknown, opts: { nullable?: string[]; maps?: string[] } = {}, path = '$'): string[] {
  const te = jsonType(expected);
  const ta = jsonType(actual);
  if (te !== ta) return (te === 'null' || ta === 'null') && opts.nullable?.includes(path) ? [] : [`${path}: ${te} in the reference, ${ta} in the stand-in`];
  if (te === 'array') {
    const [first] = expected as unknown[];
    return first === undefined ? [] : [...new Set((actual as unknown[]).flatMap((a) => shapeDiff(first, a, opts, `${path}[]`)))];
  }
  if (te !== 'object') return [];
  const e = expected as Record<string, unknown>;
  const a = actual as Record<string, unknown>;
  if (opts.maps?.includes(path)) {
    const [first] = Object.values(e);
    return first === undefined ? [] : [...new Set(Object.entries(a).flatMap(([k, v]) => shapeDiff(k in e ? e[k] : first, v, opts, `${path}.*`)))];
  }
  const out: string[] = [];
  if (Object.keys(e).join() !== Object.keys(a).join())
    out.push(`${path}: keys ${Object.keys(e).join(',')} in the reference, ${Object.keys(a).join(',')} in the stand-in`);
  for (const k of Object.keys(e)) if (k in a) out.push(...shapeDiff(e[k], a[k], opts, `${path}.${k}`));
  return out;
}

function assertShape(expected: unknown, actual: unknown, what: string, opts: { nullable?: string[]; maps?: string[] } = {}): void {
  const diffs = shapeDiff(expected, actual, opts);
  assert.deepEqual(diffs, [], `${what} differs from the reference:\n  ${diffs.join('\n  ')}`);
}

// ---- tables ----

interface Table {
  columns: string[];
  starts: number[];
  lines: string[];
  rows: string[][];
}

/** A table cut at its header's column starts; `gap` is the least run of spaces between header names. */
function table(text: string, gap: number, skip = 0): Table {
  const [header = '', ...lines] = text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => l.slice(skip));
  const columns = header.trim().split(new RegExp(` {${gap},}`));
  const starts: number[] = [];
  let at = 0;
  for (const c of columns) {
    at = header.indexOf(c, at);
    starts.push(at);
    at += c.length;
  }
  const rows = lines.map((l) => starts.map((s, i) => l.slice(s, starts[i + 1] ?? l.length).trimEnd()));
  return { columns, starts, lines: [header, ...lines], rows };
}

/**
 * Every column but the last is as wide as its widest cell plus `padding`, and at least `minWidth`
 * (docker/cli: text/tabwriter with minwidth 10, padding 3; systemd's format-table: one space).
 */
function assertLayout(t: Table, minWidth: number, padding: number, what: string): void {
  const cells = [t.columns, ...t.rows];
  for (let i = 0; i + 1 < t.starts.length; i++) {
    const widest = Math.max(...cells.map((r) => r[i]!.length));
    assert.equal(t.starts[i + 1]! - t.starts[i]!, Math.max(minWidth, widest + padding), `${what}: width of column ${t.columns[i]}`);
    for (const l of t.lines)
      assert.match(l.slice(t.starts[i + 1]! - padding, t.starts[i + 1]), /^ *$/, `${what}: a cell of ${t.columns[i]} runs into the next column: ${l}`);
  }
}

// ---- the stand-ins, in a private mount namespace ----

/**
 * The docker and systemctl stand-ins keep their state under fixed paths (/var/lib/docker-lab,
 * /run/systemd/units, /run/current-system/etc/units.tsv, /var/log/units). Each command runs in a
 * private mount namespace with tmpfs there, the state bound in from this test's directories, and
 * the stand-ins first on PATH: the harness's drivers run against them unchanged.
 */
class StandinTransport implements Transport {
  readonly kind = 'local';
  readonly describe = 'the lab stand-ins in a private mount namespace';
  private readonly local = new LocalTransport();
  readonly dockerState: string;
  readonly unitsState: string;
  readonly unitsTsv: string;

  constructor(dir: string) {
    this.dockerState = join(dir, 'docker-lab');
    this.unitsState = join(dir, 'units');
    this.unitsTsv = join(dir, 'units.tsv');
    for (const d of [this.dockerState, this.unitsState]) mkdirSync(d, { recursive: true });
    writeFileSync(this.unitsTsv, '');
  }

  exec(req: ExecRequest): Promise<RawResult> {
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const setup = [
      'mount -t tmpfs lab /var/lib && mount -t tmpfs lab /run && mount -t tmpfs lab /var/log',
      'mkdir -p /var/lib/docker-lab /run/systemd/units /run/current-system/etc',
      `mount --bind ${q(this.dockerState)} /var/lib/docker-lab && mount --bind ${q(this.unitsState)} /run/systemd/units`,
      `cp ${q(this.unitsTsv)} /run/current-system/etc/units.tsv`,
      `export PATH=${q(STANDINS)}:"$PATH"`,
      'exec "$@"',
    ].join('\n');
    return this.local.exec({ ...req, argv: ['unshare', '--mount', '--propagation', 'private', 'bash', '-ec', setup, 'standin', ...req.argv] });
  }

  async close(): Promise<void> {}
}

// =================================================================================================
// docker (docker/cli v26; docker-swarm-cli.md)

describe('docker: service ls, stack ls and stack services', () => {
  const lab = new StandinTransport(join(tmp, 'docker'));
  const host = new Host('docker-standin', lab, recorder(), 30_000);
  const docker = new Docker(host);
  const run = (...args: string[]) => lab.exec({ argv: ['docker', ...args], timeoutMs: 30_000 });
  const ok = async (...args: string[]) => {
    const r = await run(...args);
    assert.equal(r.exitCode, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const compose = (name: string, text: string) => {
    const f = join(tmp, `${name}.compose.yml`);
    writeFileSync(f, text);
    return f;
  };
  const goldenService = table(ref('docker', 'service-ls-table.golden'), 2);

  before(async () => {
    // Every mode and REPLICAS form the stand-in prints, and stacks named for natural order.
    await ok(
      'stack',
      'deploy',
      '-c',
      compose(
        'all',
        [
          'version: "3.8"',
          'services:',
          '  web:',
          '    image: nginx:1.27',
          '    deploy:',
          '      replicas: 2',
          '  capped:',
          '    image: busybox:1.36@sha256:0123456789abcdef',
          '    deploy:',
          '      replicas: 1',
          '      placement:',
          '        max_replicas_per_node: 1',
          '  proxy:',
          '    image: traefik:v2.11',
          '    deploy:',
          '      mode: global',
          '  migrate:',
          '    image: busybox:1.36',
          '    deploy:',
          '      mode: replicated-job',
          '      replicas: 3',
          '  sweep:',
          '    image: busybox:1.36',
          '    deploy:',
          '      mode: global-job',
          '  broken:',
          '    image: registry.invalid/app:1.0',
          '    deploy:',
          '      replicas: 2',
          '',
        ].join('\n'),
      ),
      'all',
    );
    const one = compose('one', 'version: "3.8"\nservices:\n  app:\n    image: busybox:latest\n');
    for (const s of ['service-name-10-foo', 'service-name-2-foo', 'service-name-1-foo']) await ok('stack', 'deploy', '-c', one, s);
  });

  test('every REPLICAS and MODE form of the goldens parses, and converges as it should', () => {
    // MODE and REPLICAS of TestServiceContextWrite's table, and of the raw golden's records.
    const raw = ref('docker', 'service-context-write-raw.golden')
      .split('\n\n')
      .map((r) =>
        Object.fromEntries(
          r
            .trim()
            .split('\n')
            .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
        ),
      );
    const forms = [
      ...goldenService.rows.map((r) => ({ mode: r[goldenService.columns.indexOf('MODE')]!, text: r[goldenService.columns.indexOf('REPLICAS')]! })),
      ...raw.map((r) => ({ mode: r.mode!, text: r.replicas! })),
    ];
    const expected: Record<string, boolean> = {
      '2/4': false,
      '1/3': false,
      '3/3 (max 2 per node)': true,
      '2/3 (max 1 per node)': false,
      '2/3 (5/10 completed)': false,
      '1/1 (3/4 completed)': false,
    };
    assert.deepEqual([...new Set(forms.map((f) => f.mode))].sort(), ['global', 'global job', 'replicated', 'replicated job']);
    for (const { mode, text } of forms) {
      const replicas = parseReplicas(text);
      assert.ok(replicas, `${mode} ${text}`);
      assert.equal(converged({ name: 'x', mode, text, replicas }), expected[text], `${mode} ${text}`);
    }
    const json = JSON.parse(ref('docker', 'service-ls-json.golden')) as Record<string, string>;
    assert.deepEqual(parseReplicas(json.Replicas!), { running: 2, desired: 4 });
  });

  test('docker service ls: the golden columns in order, laid out by tabwriter, sorted naturally', async () => {
    assertLayout(goldenService, 10, 3, 'the golden');
    const t = table(await ok('service', 'ls'), 2);
    assert.deepEqual(t.columns, goldenService.columns);
    assertLayout(t, 10, 3, 'the stand-in');
    const col = (r: string[], name: string) => r[t.columns.indexOf(name)]!;
    const byName = Object.fromEntries(t.rows.map((r) => [col(r, 'NAME'), r]));
    const names = t.rows.map((r) => col(r, 'NAME'));
    assert.deepEqual(
      names,
      [...names].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })),
    );
    for (const r of t.rows) {
      assert.match(col(r, 'ID'), /^[0-9a-f]{12}$/);
      assert.ok(
        goldenService.rows.some((g) => g[2] === col(r, 'MODE')),
        `MODE ${col(r, 'MODE')} is one docker prints`,
      );
      assert.ok(parseReplicas(col(r, 'REPLICAS')), col(r, 'REPLICAS'));
    }
    assert.deepEqual(
      ['all_web', 'all_capped', 'all_proxy', 'all_migrate', 'all_sweep', 'all_broken'].map((n) => [
        col(byName[n]!, 'MODE'),
        col(byName[n]!, 'REPLICAS'),
        col(byName[n]!, 'IMAGE'),
      ]),
      [
        ['replicated', '2/2', 'nginx:1.27'],
        ['replicated', '1/1 (max 1 per node)', 'busybox:1.36'],
        ['global', '1/1', 'traefik:v2.11'],
        ['replicated job', '0/0 (3/3 completed)', 'busybox:1.36'],
        ['global job', '0/0 (1/1 completed)', 'busybox:1.36'],
        ['replicated', '0/2', 'registry.invalid/app:1.0'],
      ],
    );
    assert.equal((await ok('service', 'ls', '-q')).split('\n').filter(Boolean).length, t.rows.length, '-q prints only IDs');
  });

  test("docker service ls --format '{{json .}}': the golden's keys, sorted, every value a string", async () => {
    const golden = JSON.parse(ref('docker', 'service-ls-json.golden')) as Record<string, unknown>;
    const lines = (await ok('service', 'ls', '--format', '{{json .}}')).split('\n').filter(Boolean);
    assert.ok(lines.length > 0);
    for (const l of lines) assertShape(golden, JSON.parse(l), 'a service ls JSON line');
  });

  test('docker stack ls: NAME and SERVICES only (v23+), natural order; in JSON Services is a string', async () => {
    const [head = '', ...rows] = ref('docker', 'stack-list-sort-natural.golden').split('\n');
    assert.equal(await ok('stack', 'ls'), [head, 'all'.padEnd(head.indexOf('SERVICES')) + '6', ...rows].join('\n'));
    const golden = JSON.parse(ref('docker', 'stack-ls-json.golden')) as Record<string, unknown>;
    const lines = (await ok('stack', 'ls', '--format', '{{json .}}'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const l of lines) assertShape(golden, l, 'a stack ls JSON line');
    assert.deepEqual(
      lines.map((l) => l.Services),
      ['6', '1', '1', '1'],
    );
    assert.deepEqual(table(ref('docker', 'stack-list-without-format.golden'), 2).columns, ['NAME', 'SERVICES']);
    assertLayout(table(ref('docker', 'stack-list-without-format.golden'), 2), 10, 3, 'the golden');
  });

  test('docker stack ls with one stack is the golden, byte for byte', async () => {
    const alone = new StandinTransport(join(tmp, 'docker-alone'));
    writeFileSync(join(tmp, 'foo.compose.yml'), 'version: "3.8"\nservices:\n  app:\n    image: busybox:latest\n');
    assert.equal(
      (await alone.exec({ argv: ['docker', 'stack', 'deploy', '-c', join(tmp, 'foo.compose.yml'), 'service-name-foo'], timeoutMs: 30_000 })).exitCode,
      0,
    );
    assert.equal((await alone.exec({ argv: ['docker', 'stack', 'ls'], timeoutMs: 30_000 })).stdout, ref('docker', 'stack-list-without-format.golden'));
  });

  test('docker stack services: the golden columns; an unknown stack is a message on stderr and exit 0', async () => {
    const golden = table(ref('docker', 'stack-services-without-format.golden'), 2);
    assertLayout(golden, 10, 3, 'the golden');
    const t = table(await ok('stack', 'services', 'all'), 2);
    assert.deepEqual(t.columns, golden.columns);
    assertLayout(t, 10, 3, 'the stand-in');
    assert.ok(
      t.rows.every((r) => r[1]!.startsWith('all_')),
      'NAME is <stack>_<service>',
    );
    const empty = JSON.parse(ref('docker', 'stack-services-empty.json')) as { stdout: string; stderr: string; exitCode: number };
    const r = await run('stack', 'services', 'nope', '--format', '{{.Name}}\t{{.Image}}');
    assert.deepEqual([r.exitCode, r.stdout, r.stderr], [empty.exitCode, empty.stdout, empty.stderr.replace('%s', 'nope')]);
    assert.equal((await ok('stack', 'services', 'all', '-q')).split('\n').filter(Boolean).length, 6);
  });

  test("the harness's questions: service modes and replicas, stacks, a stack's images, what is left of an app", async () => {
    const { services } = await docker.services();
    const of = (n: string) => services.find((s) => s.name === n)!;
    assert.deepEqual(
      ['all_web', 'all_capped', 'all_proxy', 'all_migrate', 'all_sweep', 'all_broken'].map((n) => [n, of(n).mode, converged(of(n))]),
      [
        ['all_web', 'replicated', true],
        ['all_capped', 'replicated', true],
        ['all_proxy', 'global', true],
        ['all_migrate', 'replicated job', true],
        ['all_sweep', 'global job', true],
        ['all_broken', 'replicated', false],
      ],
      'an image under .invalid runs 0 of N',
    );
    assert.deepEqual((await docker.stacks()).stacks, ['all', 'service-name-1-foo', 'service-name-2-foo', 'service-name-10-foo']);
    const images = await docker.stackServices('all');
    assert.deepEqual(
      Object.fromEntries(images.services.map((s) => [s.name, s.image])).all_capped,
      'busybox:1.36',
      'a tagged image is shown without its digest',
    );
    const unknown = await docker.stackServices('nope');
    assert.deepEqual([unknown.result.ok, unknown.services], [true, []]);
    const left = await docker.leftoversOf('all');
    assert.deepEqual(
      left.leftovers.filter((l) => l.startsWith('stack ls')),
      ['stack ls: all'],
    );
    assert.equal(left.leftovers.filter((l) => l.startsWith('service ls')).length, 6);
  });

  test('a docker with nothing deployed answers every listing: headers only, exit 0', async () => {
    const empty = new StandinTransport(join(tmp, 'docker-empty'));
    const answer = async (...args: string[]) => {
      const r = await empty.exec({ argv: ['docker', ...args], timeoutMs: 30_000 });
      return [r.exitCode, r.stdout];
    };
    const header = goldenService.columns.map((c, i, all) => (i < all.length - 1 ? c.padEnd(Math.max(10, c.length + 3)) : c)).join('');
    assert.deepEqual(await answer('service', 'ls'), [0, `${header}\n`]);
    assert.deepEqual(await answer('stack', 'ls'), [0, 'NAME      SERVICES\n']);
    for (const what of [
      ['volume', 'ls'],
      ['secret', 'ls'],
      ['stack', 'ls'],
    ])
      assert.deepEqual(await answer(...what, '--format', '{{.Name}}'), [0, '']);
    assert.deepEqual((await new Docker(new Host('docker-empty', empty, recorder(), 30_000)).leftoversOf('app')).leftovers, []);
  });

  test('an image tagged *-crashloop runs 6 s, is down 5 s, up 3 s, and so on', async () => {
    const flap = new StandinTransport(join(tmp, 'docker-flap'));
    const flapDocker = new Docker(new Host('docker-flap', flap, recorder(), 30_000));
    writeFileSync(join(tmp, 'flap.compose.yml'), 'version: "3.8"\nservices:\n  app:\n    image: registry.lab.test/app:1.2-crashloop\n');
    assert.equal((await flap.exec({ argv: ['docker', 'stack', 'deploy', '-c', join(tmp, 'flap.compose.yml'), 'flap'], timeoutMs: 30_000 })).exitCode, 0);
    const record = join(flap.dockerState, 'services', 'flap_app');
    const upFor = (seconds: number) => {
      const fields = readFileSync(record, 'utf8').trim().split('\t');
      fields[6] = String(Math.floor(Date.now() / 1000) - seconds);
      writeFileSync(record, fields.join('\t') + '\n');
    };
    const reading = async () => (await flapDocker.services()).services.map((s) => [s.text, converged(s)]);
    assert.deepEqual(await reading(), [['1/1', true]]);
    upFor(7);
    assert.deepEqual(await reading(), [['0/1', false]]);
    upFor(12);
    assert.deepEqual(await reading(), [['1/1', true]]);
  });

  test('what the lab world runs still works: deploy with secrets and volumes, stack rm, volume rm', async () => {
    const secret = join(tmp, 'token');
    writeFileSync(secret, 'x\n');
    const f = compose(
      'app',
      `version: "3.8"\nservices:\n  app:\n    image: nginx:1.27\n    volumes:\n      - content:/srv\nvolumes:\n  content:\nsecrets:\n  token:\n    name: app_token_v1\n    file: ${secret}\n  shared:\n    external: true\n`,
    );
    const missing = await run('stack', 'deploy', '-c', f, 'app');
    assert.deepEqual([missing.exitCode, missing.stderr], [1, 'service app: secret not found: shared\n']);
    writeFileSync(join(lab.dockerState, 'secrets', 'shared'), 'created\n');
    assert.match(await ok('stack', 'deploy', '-c', f, 'app'), /Creating secret app_token_v1\n[\s\S]*Creating service app_app\n/);
    assert.match(await ok('volume', 'ls', '--format', '{{.Name}}'), /^app_content$/m);
    assert.match(await ok('stack', 'rm', 'app'), /^Removing service app_app$/m);
    assert.equal(await ok('volume', 'rm', 'app_content'), 'app_content\n');
    assert.equal((await run('volume', 'rm', 'app_content')).exitCode, 1);
  });
});

// =================================================================================================
// systemctl (systemd 255; systemd-systemctl.md)

describe('systemctl: is-system-running and --failed --plain --no-legend', () => {
  const lab = new StandinTransport(join(tmp, 'systemd'));
  const host = new Host('systemd-standin', lab, recorder(), 30_000);
  const run = (...args: string[]) => lab.exec({ argv: ['systemctl', ...args], timeoutMs: 30_000 });
  const words = Object.fromEntries(tsv('systemd', 'is-system-running.tsv').map(([word, code]) => [word, Number(code)]));
  const units = (rows: [name: string, description: string, command: string][]) =>
    writeFileSync(lab.unitsTsv, rows.map(([n, d, c]) => `${n}\toneshot\t${d}\t${c}\n`).join(''));

  test('the parsing in settle() reads the real lines, and nothing when nothing failed', () => {
    assert.deepEqual(failedUnitsOf(ref('systemd', 'failed-plain-no-legend.txt')), ['nginx.service', 'sops-install-secrets.service']);
    assert.deepEqual(failedUnitsOf(ref('systemd', 'failed-plain-no-legend-none.txt')), []);
  });

  test('is-system-running: one word, exit 0 only for running; --failed prints nothing when nothing failed', async () => {
    assert.equal(words.running, 0);
    assert.ok(
      Object.entries(words).every(([w, c]) => w === 'running' || c === 1),
      'every other state exits 1',
    );
    units([['ok.service', 'Fine', 'true']]);
    assert.equal((await run('start', 'ok.service')).exitCode, 0);
    const r = await run('is-system-running');
    assert.deepEqual([r.stdout, r.exitCode], ['running\n', words.running]);
    assert.deepEqual([(await run('is-system-running', '--quiet')).stdout, (await run('is-system-running', '--wait')).exitCode], ['', 0]);
    const none = await run('--failed', '--plain', '--no-legend');
    assert.deepEqual([none.exitCode, none.stdout], [0, ref('systemd', 'failed-plain-no-legend-none.txt')]);
    assert.equal((await run('list-units', '--failed', '--output=json')).stdout, ref('systemd', 'list-units-failed-none.json'));
    assert.deepEqual(await settle(host, 5_000).then((s) => [s.state, s.failedUnits]), ['running', []]);
  });

  test('two failed units: the same lines as the reference, byte for byte; degraded exits 1', async () => {
    units([
      ['nginx.service', 'Nginx Web Server', 'exit 1'],
      ['ok.service', 'Fine', 'true'],
      ['sops-install-secrets.service', 'sops-install-secrets.service', 'false'],
    ]);
    for (const u of ['nginx.service', 'ok.service', 'sops-install-secrets.service']) await run('start', u);
    const failed = await run('--failed', '--plain', '--no-legend');
    assert.deepEqual([failed.exitCode, failed.stdout], [0, ref('systemd', 'failed-plain-no-legend.txt')]);
    const state = await run('is-system-running');
    assert.deepEqual([state.stdout.trim(), state.exitCode], ['degraded', words.degraded]);
    assert.deepEqual(await settle(host, 10_000).then((s) => [s.state, s.failedUnits]), ['degraded', ['nginx.service', 'sops-install-secrets.service']]);
    const json = JSON.parse((await run('list-units', '--failed', '-o', 'json')).stdout) as unknown[];
    assertShape(JSON.parse(ref('systemd', 'list-units-failed.json')), json, 'list-units --failed --output=json');
    assert.deepEqual(json[0], JSON.parse(ref('systemd', 'list-units-failed.json'))[0]);
  });

  test('list-units with its legend: the man page layout, ● before a failed unit, the header only when asked', async () => {
    const sample = ref('systemd', 'list-units-man-sample.txt');
    const tableOf = (text: string) => table(text.split('\n\n')[0]!, 1, 2);
    assertLayout(tableOf(sample), 0, 1, 'the man page');
    const out = (await run('list-units')).stdout;
    const t = tableOf(out);
    assert.deepEqual(t.columns, tableOf(sample).columns);
    assertLayout(t, 0, 1, 'the stand-in');
    assert.match(out, /^ {2}UNIT /);
    assert.match(out, /^● nginx\.service +loaded failed failed +Nginx Web Server$/m);
    assert.match(out, /^ {2}ok\.service +loaded active exited +Fine$/m);
    assert.match(
      out,
      /\n\n3 loaded units listed\. Pass --all to see loaded but inactive units, too\.\nTo show all installed unit files use 'systemctl list-unit-files'\.\n$/,
    );
    assert.match((await run('--failed', '--no-legend')).stdout, /^● nginx\.service/);
    assert.match((await run('--failed', '--plain')).stdout, /^UNIT +LOAD +ACTIVE +SUB +DESCRIPTION\nnginx\.service/);
    await run('reset-failed');
    const cleared = await run('is-system-running');
    assert.deepEqual([cleared.stdout, cleared.exitCode], ['running\n', 0], 'degraded clears once no unit is failed');
  });
  test('a simple unit that dies a second after its start: settle() with a stable window sees it fail, one look does not', async () => {
    await run('reset-failed');
    writeFileSync(lab.unitsTsv, 'bridge.service\tsimple\tBridge\tsleep 1; exit 1\n');
    assert.equal((await run('start', 'bridge.service')).exitCode, 0);
    assert.deepEqual(await settle(host, 0).then((s) => [s.state, s.failedUnits]), ['running', []]);
    const s = await settle(host, 15_000, 3_000);
    assert.deepEqual([s.state, s.failedUnits], ['degraded', ['bridge.service']]);
    // The state and the failed list are two reads: a look between them may see the unit failed, the state not yet degraded.
    assert.match(s.history.join(' → '), /running → (?:\+\d+\.\ds running failed: bridge\.service → )?\+\d+\.\ds degraded failed: bridge\.service/);
    await run('reset-failed');
  });
});

// =================================================================================================
// incus (Incus 6.0; incus.md)

describe('incus: list --format json, config show, info, limits.memory', () => {
  const realList = JSON.parse(ref('incus', 'list-format-json.json')) as Instance[];
  const real = JSON.parse(ref('incus', 'list-format-json.json')) as Record<string, unknown>[];
  const labDir = join(tmp, 'incus-lab');
  const incus = (...args: string[]) => {
    const r = spawnSync(join(STANDINS, 'incus'), [...args, '--project', 'terraform-ci'], { env: { ...process.env, LAB_DIR: labDir }, encoding: 'utf8' });
    return { exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const ok = (...args: string[]) => {
    const r = incus(...args);
    assert.equal(r.exitCode, 0, `incus ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  // Maps whose keys are data; nullable: Go pointers and nil slices.
  const MAPS = ['$[].config', '$[].expanded_config', '$[].devices', '$[].expanded_devices', '$[].state.disk', '$[].state.network'];
  const NULLABLE = ['$[].state.network', '$[].state.os_info'];

  before(() => {
    mkdirSync(labDir, { recursive: true });
    writeFileSync(join(labDir, 'lab.json'), JSON.stringify({ switchPid: 0, hosts: [], domain: 'lab.test' }));
    // Created, never started: no namespace is needed to list it.
    ok('create', 'images:nixos/24.05', 'ci1', '--vm', '-c', 'limits.memory=4GiB', '-c', `${LABEL}.creator=${CREATOR}`, '-c', `${LABEL}.run=r1`);
  });

  test('the driver reads the real list: the fields it uses, sizes, labels and provisioning', () => {
    const [i] = realList;
    assert.equal(realList.length, 1);
    assert.deepEqual([i!.name, i!.status, i!.type, i!.project], ['ci1', 'Running', 'virtual-machine', 'default']);
    assert.match(i!.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.equal(parseIncusBytes(i!.expanded_config!['limits.memory']!), i!.state!.memory!.total);
    assert.deepEqual(
      i!.state!.network!.enp5s0!.addresses!.map((a) => [a.family, a.address]),
      [['inet', '10.0.0.5']],
    );
    assert.deepEqual(i!.profiles, ['default']);
    assert.equal(labelsOf(i!), undefined, 'no harness label');
    assert.deepEqual(labelsOf({ ...i!, config: { ...i!.config, [`${LABEL}.creator`]: CREATOR, [`${LABEL}.run`]: 'r1' } })?.run, 'r1');
    // Its nic and root disk are not provisioning; its user.role label is: the guest reads user.* keys through the agent's /dev/incus.
    assert.deepEqual(provisioningOf(i!), ['config user.role'], 'only the user.* key the guest can read');
  });

  test('limits.memory: the driver and the stand-in both read sizes as Incus does', () => {
    for (const [value = '', bytes, verdict = ''] of tsv('incus', 'limits-memory.tsv')) {
      assert.equal(parseIncusBytes(value), bytes === 'invalid' ? undefined : Number(bytes), `the driver reads ${value}`);
      const check = () => validateConfig({ 'limits.memory': value });
      if (verdict === 'accepted') assert.doesNotThrow(check, value);
      else assert.throws(check, (e: Error) => e.message.endsWith(verdict.replace(/^rejected: /, '')), `${value}: ${verdict}`);
    }
    assert.throws(() => validateConfig({ 'user.x': '1', bogus: '1' }), /Unknown configuration key: bogus/);
    assert.doesNotThrow(() => validateConfig({ 'user.Any.Key': 'any value', 'limits.memory': '' }));
  });

  test('list --format json: the real keys in struct order and types; location "none"; never used is 1970', () => {
    const listed = JSON.parse(ok('list', '--format', 'json')) as Record<string, unknown>[];
    assert.equal(listed.length, 1);
    assertShape(real, listed, 'incus list --format json', { maps: MAPS, nullable: NULLABLE });
    const [i] = listed as unknown as (Instance & {
      status_code: number;
      location: string;
      last_used_at: string;
      state: { status: string; status_code: number };
    })[];
    const codes = Object.fromEntries(tsv('incus', 'status-codes.tsv').map(([s, c]) => [s, Number(c)]));
    assert.deepEqual([i!.status, i!.status_code, i!.state.status, i!.state.status_code], ['Stopped', codes.Stopped, 'Stopped', codes.Stopped]);
    assert.deepEqual([i!.location, i!.type, i!.last_used_at], ['none', 'virtual-machine', '1970-01-01T00:00:00Z']);
    assert.equal(i!.state!.network, null, 'a stopped instance has no network state');
    assert.ok(labelsOf(i!), 'the labels set at creation are in its local config');
    const brief = JSON.parse(ok('list', '-c', 'n', '--format', 'json')) as Record<string, unknown>[];
    assert.deepEqual([brief[0]!.state, brief[0]!.snapshots, brief[0]!.backups], [null, null, null], 'no column needs the state: none is fetched');
  });

  test('config show: the InstancePut fields in struct order, no name or status; info: Status upper-case', () => {
    const keys = (text: string) => Object.keys(YAML.parse(text) as object);
    assert.deepEqual(keys(ok('config', 'show', 'ci1')), keys(ref('incus', 'config-show.yaml')));
    assert.deepEqual(keys(ok('config', 'show', 'ci1', '--expanded')), keys(ref('incus', 'config-show.yaml')));
    const labels = ref('incus', 'info-lines.txt')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(': %s', ''));
    const info = ok('info', 'ci1').split('\n').slice(0, labels.length);
    assert.deepEqual(
      info.map((l) => l.slice(0, l.indexOf(':'))),
      labels,
    );
    assert.equal(info[2], 'Status: STOPPED', 'JSON says "Stopped", info upper-cases it');
  });

  test('a size Incus rejects is rejected by the stand-in too, with the value in the message', () => {
    const bad = incus('config', 'set', 'ci1', 'limits.memory=4G');
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /^Error: .*Invalid value: 4G\n$/);
    ok('config', 'set', 'ci1', 'limits.memory=4GB');
    assert.equal(ok('config', 'get', 'ci1', 'limits.memory'), '4GB\n');
  });
});

// =================================================================================================
// sops (sops 3.9; sops.md)

describe('sops: metadata, exit codes, filestatus', () => {
  const SOPS_NIX = join(PROJECT_ROOT, 'test', 'fixtures', 'sops-nix');
  const SOPS = join(STANDINS, 'sops');
  const realYaml = readFileSync(join(SOPS_NIX, 'secrets.yaml'), 'utf8');
  const key = join(SOPS_NIX, 'age-keys.txt');
  const recipient = 'age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw';
  const home = join(tmp, 'sops-home');
  const sops = (args: string[], env: Record<string, string | undefined> = {}) => {
    const e: NodeJS.ProcessEnv = { ...process.env, CC_CI_HARNESS_ROOT: PROJECT_ROOT, XDG_CONFIG_HOME: home, SOPS_AGE_KEY_FILE: key, ...env };
    delete e.SOPS_AGE_KEY;
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
    const r = spawnSync(SOPS, args, { env: e, encoding: 'utf8' });
    return { exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const file = (name: string, text: string) => {
    const f = join(tmp, name);
    writeFileSync(f, text);
    return f;
  };
  const codes = Object.fromEntries([...ref('sops', 'codes.go.txt').matchAll(/^\t(\w+) +int = (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));

  before(() => mkdirSync(home, { recursive: true }));

  test("the stand-in's exit codes are sops' own (cmd/sops/codes/codes.go)", () => {
    const names: Record<keyof typeof SopsExit, string> = {
      generic: 'ErrorGeneric',
      couldNotReadInputFile: 'CouldNotReadInputFile',
      errorDumpingTree: 'ErrorDumpingTree',
      errorDecryptingTree: 'ErrorDecryptingTree',
      macMismatch: 'MacMismatch',
      invalidTreePathFormat: 'InvalidTreePathFormat',
      noFileSpecified: 'NoFileSpecified',
      couldNotRetrieveKey: 'CouldNotRetrieveKey',
    };
    for (const [ours, theirs] of Object.entries(names)) assert.equal(SopsExit[ours as keyof typeof SopsExit], codes[theirs], `${ours} = ${theirs}`);
  });

  test("metadata: the real file's sops keys, in its order and shapes, last in the file; the stand-in writes the same", () => {
    const keysOf = (text: string) => Object.keys((YAML.parse(text) as { sops: object }).sops);
    const reference = keysOf(ref('sops', 'metadata-secrets-yaml.yaml'));
    assert.deepEqual(keysOf(realYaml), reference);
    const plain = file('plain.yaml', 'token: abc\nport: 8080\n');
    const enc = sops(['-e', '--age', recipient, plain]);
    assert.equal(enc.exitCode, 0, enc.stderr);
    assert.deepEqual(keysOf(enc.stdout), reference);
    const doc = YAML.parse(enc.stdout) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(doc).at(-1), 'sops', 'sops is appended last');
    const meta = doc.sops!;
    for (const k of ['kms', 'gcp_kms', 'azure_kv', 'hc_vault', 'pgp']) assert.deepEqual(meta[k], [], `${k}: [] in YAML`);
    assert.match(enc.stdout, /^ {4}kms: \[\]$/m, 'indent 4');
    assert.deepEqual(Object.keys((meta.age as object[])[0]!), ['recipient', 'enc']);
    assert.match(String(meta.lastmodified), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(String(meta.mac), /^ENC\[AES256_GCM,data:[^,]+,iv:[^,]+,tag:[^,]+,type:str\]$/);
    assert.equal(meta.unencrypted_suffix, '_unencrypted', 'the default rule is stored');
    assert.equal(typeof meta.version, 'string');
    const json = sops(['-e', '--age', recipient, '--output-type', 'json', plain]);
    const jmeta = (JSON.parse(json.stdout) as { sops: Record<string, unknown> }).sops;
    for (const k of ['kms', 'gcp_kms', 'azure_kv', 'hc_vault', 'pgp']) assert.equal(jmeta[k], null, `${k}: null in JSON`);
  });

  test('decrypt failures exit as sops does, with its messages', () => {
    const cases = Object.fromEntries(tsv('sops', 'decrypt-exit-codes.tsv').map(([what, code, start]) => [what!, { code: Number(code), start: start! }]));
    const expect = (what: string, r: { exitCode: number | null; stderr: string }) => {
      assert.equal(r.exitCode, cases[what]!.code, `${what}: ${r.stderr}`);
      assert.ok(r.stderr.startsWith(cases[what]!.start), `${what}: ${r.stderr}`);
    };
    const stranger = join(tmp, 'stranger.txt');
    execFileSync('age-keygen', ['-o', stranger], { stdio: 'ignore' });
    expect('no key can decrypt the data key', sops(['-d', join(SOPS_NIX, 'secrets.yaml')], { SOPS_AGE_KEY_FILE: stranger }));
    const noKey = sops(['-d', join(SOPS_NIX, 'secrets.yaml')], { SOPS_AGE_KEY_FILE: undefined });
    expect('no key can decrypt the data key', noKey);
    const reference = ref('sops', 'data-key-error.txt');
    const unwrapped = (s: string) => s.replace(/\n +\| /g, ' ');
    assert.ok(unwrapped(noKey.stderr).includes(`failed to open file: open ${home}/sops/age/keys.txt: no such file or directory`), noKey.stderr);
    assert.match(unwrapped(noKey.stderr), /failed to load age identities/);
    assert.match(
      unwrapped(reference),
      /failed to load age identities: failed to open file: open \/root\/\.config\/sops\/age\/keys\.txt: no such file or directory/,
    );
    assert.ok(noKey.stderr.endsWith(reference.slice(reference.indexOf('Recovery failed'))), 'the same trailer, wrapped the same');
    expect('tampered value / wrong MAC', sops(['-d', file('removed.yaml', realYaml.replace(/^test_key: .*\n/m, ''))]));
    expect(
      'MAC undecryptable (lastmodified edited)',
      sops(['-d', file('lastmod.yaml', realYaml.replace('lastmodified: "2021-09-30T19:49:41Z"', 'lastmodified: "2021-09-30T19:49:42Z"'))]),
    );
    expect('value ciphertext broken', sops(['-d', file('broken.yaml', realYaml.replace('data:2mP+IAdczoEr0g==', 'data:3mP+IAdczoEr0g=='))]));
    // A path that exists but cannot be read; a path that does not exist is refused before (exit 100, see the README).
    mkdirSync(join(tmp, 'a-dir.yaml'), { recursive: true });
    expect('input file missing', sops(['-d', join(tmp, 'a-dir.yaml')]));
    assert.deepEqual([sops(['-d', join(tmp, 'absent.yaml')]).exitCode, codes.NoFileSpecified], [100, 100]);
    expect('plain file without sops metadata', sops(['-d', file('plain.json', '{"a": 1}')]));
    assert.equal(sops(['-d', '--ignore-mac', join(tmp, 'removed.yaml')]).exitCode, 0, '--ignore-mac skips the MAC checks');
  });

  test('filestatus: {"encrypted":…} and exit 0 either way; no file 100; an unreadable file 1', () => {
    const cases = tsv('sops', 'filestatus.tsv');
    const args: Record<string, string[]> = {
      'encrypted file': [join(SOPS_NIX, 'secrets.yaml')],
      'plain file': [file('plain2.yaml', 'a: 1\n')],
      'no file argument': [],
      'unreadable, unparsable or missing file': [join(tmp, 'absent.yaml')],
    };
    for (const [what, code, stdout] of cases) {
      const r = sops(['filestatus', ...args[what!]!]);
      assert.equal(r.exitCode, Number(code), `${what}: ${r.stderr}`);
      assert.equal(r.stdout, stdout ? `${stdout}\n` : '', what);
    }
  });

  test("the driver's checks: a file that decrypts verifies; a tampered one or a wrong key does not; digests stay on the host", async () => {
    const host = new Host('here', new LocalTransport(), recorder(), 60_000);
    const prev = process.env.CC_CI_HARNESS_ROOT;
    process.env.CC_CI_HARNESS_ROOT = PROJECT_ROOT;
    try {
      const on = (keyFile: string) => new SopsOnHost(host, [SOPS], ['openssl'], keyFile, 60_000);
      assert.equal((await on(key).verify(realYaml)).exitCode, 0);
      assert.equal((await on(key).verify(realYaml.replace(/^test_key: .*\n/m, ''))).exitCode, codes.MacMismatch);
      assert.equal((await on(join(tmp, 'stranger.txt')).verify(realYaml)).exitCode, codes.CouldNotRetrieveKey);
      const digest = await on(key).digest(realYaml, 'test_key', 'sha256sum');
      assert.equal(digest.stdout.split(' ')[0], execFileSync('sha256sum', { input: 'test_value' }).toString().split(' ')[0]);
    } finally {
      if (prev === undefined) delete process.env.CC_CI_HARNESS_ROOT;
      else process.env.CC_CI_HARNESS_ROOT = prev;
    }
  });
});
