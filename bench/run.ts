import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { Host } from '../src/drivers/host';
import { LocalTransport } from '../src/drivers/local';
import { HostPool } from '../src/drivers/pool';
import { SopsOnHost, type ScanSecret } from '../src/drivers/sops';
import { Recorder } from '../src/evidence/recorder';
import { Redactor } from '../src/evidence/redact';
import { Lab } from '../lab/src/lab';
import { PROJECT_ROOT } from '../src/paths';
import { loadProfile } from '../src/profile/load';
import { poll } from '../src/wait';

// npm run bench [-- --quick] [--only ssh|scan|harness|cost]: the harness against the tools a person
// would use by hand, side by side in one run on this machine. Each figure is the median of at
// least five repetitions, with min and max; ratios compare figures of the same run. It fails
// nothing: it writes bench/results.json and bench/results.md.

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const REPS = 5;
const say = (l: string) => process.stderr.write(l + '\n');

interface Figure {
  section: string;
  name: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  reps: number;
  note?: string;
}
interface Ratio {
  section: string;
  name: string;
  value: number;
  goal: string;
  met: boolean;
}
const figures: Figure[] = [];
const ratios: Ratio[] = [];
const notes: string[] = [];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
function figure(section: string, name: string, unit: string, samples: number[], note?: string): Figure {
  const f = { section, name, unit, median: median(samples), min: Math.min(...samples), max: Math.max(...samples), reps: samples.length, note };
  figures.push(f);
  say(`  ${name}: ${f.median.toFixed(2)} ${unit} (min ${f.min.toFixed(2)}, max ${f.max.toFixed(2)}, ${f.reps} reps)`);
  return f;
}
function ratio(section: string, name: string, value: number, goal: string, met: boolean): void {
  ratios.push({ section, name, value, goal, met });
  say(`  ${name}: ${value.toFixed(2)}× (goal ${goal}) ${met ? 'met' : 'NOT met'}`);
}
async function reps<T>(n: number, f: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await f());
  return out;
}
async function inFlight(total: number, width: number, one: () => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < total) {
        next++;
        await one();
      }
    }),
  );
}
const msSince = (t0: number) => performance.now() - t0;

// ---- SSH: 200 × true on one lab host ----

async function sshBench(): Promise<void> {
  say('== ssh: 200 × `true` on the lab host cc-ci');
  const dir = Lab.newDir(`bench-${process.pid}`);
  const profile = loadProfile('lab', { LAB_DIR: dir }).profile;
  const lab = await Lab.start(dir, profile, say);
  const runDir = mkdtempSync(join(tmpdir(), 'bench-ssh-'));
  try {
    const pool = new HostPool(profile, new Recorder(runDir, runDir, new Redactor(), () => {}));
    const host = pool.get('cc-ci');
    await host.succeed(['true']);
    const N = QUICK ? 50 : 200;
    const seq = await reps(REPS, async () => {
      const t0 = performance.now();
      for (let i = 0; i < N; i++) await host.succeed(['true']);
      return msSince(t0) / N;
    });
    const par = await reps(REPS, async () => {
      const t0 = performance.now();
      await inFlight(N, 8, () => host.succeed(['true']));
      return msSince(t0) / N;
    });
    await pool.closeAll();

    const spec = profile.hosts['cc-ci']!;
    if (spec.transport !== 'ssh') throw new Error('cc-ci is not an ssh host');
    const base = [
      '-i',
      join(dir, 'runner', 'id_ed25519'),
      '-o',
      `UserKnownHostsFile=${join(dir, 'runner', 'known_hosts')}`,
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-p',
      String(spec.port),
    ];
    const target = `root@${spec.address}`;
    const PER = QUICK ? 10 : 30;
    const perCommand = await reps(REPS, async () => {
      const t0 = performance.now();
      for (let i = 0; i < PER; i++) await execa('ssh', [...base, target, 'true']);
      return msSince(t0) / PER;
    });
    const sock = join(runDir, 'cm.sock');
    execFileSync('ssh', [...base, '-o', 'ControlMaster=yes', '-o', `ControlPath=${sock}`, '-o', 'ControlPersist=yes', '-fN', target]);
    const cm = ['-o', `ControlPath=${sock}`, ...base, target, 'true'];
    const cmSeq = await reps(REPS, async () => {
      const t0 = performance.now();
      for (let i = 0; i < N; i++) await execa('ssh', cm);
      return msSince(t0) / N;
    });
    const cmPar = await reps(REPS, async () => {
      const t0 = performance.now();
      await inFlight(N, 8, () => execa('ssh', cm));
      return msSince(t0) / N;
    });
    spawnSync('ssh', ['-o', `ControlPath=${sock}`, '-O', 'exit', target]);

    const h = figure('ssh', 'the harness, sequential', 'ms/command', seq);
    const h8 = figure('ssh', 'the harness, 8 in flight', 'ms/command', par);
    const s = figure('ssh', '`ssh` per command', 'ms/command', perCommand, `${PER} commands per repetition`);
    const c = figure('ssh', 'OpenSSH ControlMaster, sequential', 'ms/command', cmSeq);
    figure('ssh', 'OpenSSH ControlMaster, 8 in flight', 'ms/command', cmPar);
    ratio('ssh', 'harness sequential under 10 ms', 10 / h.median, '≥ 1 (under 10 ms)', h.median < 10);
    ratio('ssh', 'harness vs ControlMaster, sequential', c.median / h.median, '≥ 5', c.median / h.median >= 5);
    ratio('ssh', 'harness vs ssh per command', s.median / h.median, '≥ 20', s.median / h.median >= 20);
    ratio('ssh', 'harness 8 in flight vs sequential', h.median / h8.median, '≥ 3', h.median / h8.median >= 3);
  } finally {
    await lab.stop();
    rmSync(runDir, { recursive: true, force: true });
  }
}

// ---- The plaintext scan at scale ----

const SECRET_NAMES = [
  'test_secret',
  'drone_rpc_secret',
  'drone_gitea_client_secret',
  'bridge_drone_token',
  'bridge_gitea_token',
  'bridge_webhook_hmac',
  'wildcard_key',
  'session_key',
];
const WORDS =
  'the of and to in is for on with as by at from that this be are or an it not was we can all which you one has but their also have will more these other new some when may such into its use only time been used there'.split(
    ' ',
  );

function textBlock(bytes: number, seed: number): string {
  let s = '';
  let x = seed | 1;
  while (s.length < bytes) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    s += WORDS[Math.abs(x) % WORDS.length] + ((x & 15) === 0 ? '\n' : ' ');
  }
  return s.slice(0, bytes);
}

interface Store {
  dir: string;
  files: number;
  bytes: number;
  planted: Map<string, string>;
}

/** A store-shaped tree: packages of text and binary files, a few gzipped, values planted at known places. */
function makeStore(root: string, files: number, bytes: number, values: Record<string, string>): Store {
  mkdirSync(root, { recursive: true });
  const per = Math.floor(bytes / files);
  const planted = new Map<string, string>();
  const names = Object.keys(values);
  let written = 0;
  let dir = root;
  for (let i = 0; i < files; i++) {
    // Fifty files to a package, as /nix/store/<hash>-<name> directories.
    if (i % 50 === 0) {
      dir = join(root, `${createHash('sha256').update(String(i)).digest('hex').slice(0, 32)}-pkg-${i / 50}`);
      mkdirSync(dir);
    }
    const size = Math.max(64, Math.round(per * (0.25 + ((i * 7919) % 100) / 66)));
    let content: Buffer = i % 3 === 0 ? randomBytes(size) : Buffer.from(textBlock(size, i + 1));
    // Every 1000th file holds a planted value: raw, inside a longer base64 text, as hex, or gzipped.
    if (i % 1000 === 500) {
      const n = names[((i / 1000) % names.length) | 0]!;
      const v = values[n]!;
      const form = ((i - 500) / 1000) % 4;
      const piece = form === 1 ? Buffer.from(`xy${v}tail`).toString('base64') : form === 2 ? Buffer.from(v).toString('hex') : v;
      content = Buffer.concat([content.subarray(0, size >> 1), Buffer.from(`\n${piece}\n`), content.subarray(size >> 1)]);
      const file = join(dir, form === 3 ? `f${i}.gz` : `f${i}`);
      writeFileSync(file, form === 3 ? gzipSync(content) : content);
      planted.set(file, n);
    } else writeFileSync(join(dir, `f${i}`), content);
    written += content.length;
  }
  return { dir: root, files, bytes: written, planted };
}

/** A repo with `commits` commits, a few of which once held a planted value. */
function makeRepo(root: string, commits: number, values: Record<string, string>): { dir: string; planted: string[] } {
  mkdirSync(root, { recursive: true });
  execFileSync('git', ['init', '-q', '-b', 'main', root]);
  const lines: string[] = [];
  const planted: string[] = [];
  const names = Object.keys(values);
  for (let i = 1; i <= commits; i++) {
    const every = Math.floor(commits / 4);
    const leak = i % every === 0 ? names[(i / every) % names.length]! : undefined;
    if (leak) planted.push(leak);
    const body = `${textBlock(600, i)}\n${leak ? `${values[leak]}\n` : ''}`;
    const msg = `change ${i}\n`;
    lines.push('commit refs/heads/main', `mark :${i}`, `committer bench <b@b> ${1700000000 + i} +0000`, `data ${Buffer.byteLength(msg)}`, msg);
    if (i > 1) lines.push(`from :${i - 1}`);
    lines.push(`M 644 inline docs/file${i % 200}.md`, `data ${Buffer.byteLength(body)}`, body, '');
  }
  execFileSync('git', ['-C', root, 'fast-import', '--quiet'], { input: lines.join('\n') + '\n', maxBuffer: 1 << 30 });
  execFileSync('git', ['-C', root, 'reset', '-q', '--hard', 'main']);
  return { dir: join(root, '.git'), planted };
}

async function scanBench(): Promise<void> {
  say('== the plaintext scan at scale (here, with a stand-in sops that prints planted values)');
  const work = mkdtempSync(join(tmpdir(), 'bench-scan-'));
  try {
    const values: Record<string, string> = Object.fromEntries(SECRET_NAMES.map((n) => [n, `${n}-${randomBytes(12).toString('base64url')}`]));
    const valuesDir = join(work, 'values');
    mkdirSync(valuesDir);
    for (const [n, v] of Object.entries(values)) writeFileSync(join(valuesDir, n), v);
    process.env.FAKE_SOPS_VALUES = valuesDir;
    const runDir = join(work, 'run');
    const recorder = new Recorder(runDir, runDir, new Redactor(), () => {});
    const host = new Host('here', new LocalTransport(), recorder, 3_600_000);
    const sops = new SopsOnHost(host, [join(PROJECT_ROOT, 'test', 'fixtures', 'scan', 'fake-sops')], ['openssl'], '/nonexistent', 3_600_000);
    const secrets: ScanSecret[] = SECRET_NAMES.map((name) => ({ name, extract: `["${name}"]` }));
    const patterns = join(work, 'patterns');
    writeFileSync(
      patterns,
      Object.values(values)
        .flatMap((v) => [v, Buffer.from(v).toString('hex')])
        .join('\n') + '\n',
    );

    const sizes = QUICK
      ? [
          [2000, 20 << 20],
          [5000, 50 << 20],
          [10000, 100 << 20],
        ]
      : [
          [10000, 100 << 20],
          [30000, 300 << 20],
          [100000, 1 << 30],
        ];
    let largest: { mbps: number } | undefined;
    for (const [files, bytes] of sizes as [number, number][]) {
      say(`  making a store of ${files} files, ${(bytes / (1 << 20)).toFixed(0)} MiB`);
      const store = makeStore(join(work, `store-${files}`), files, bytes, values);
      execFileSync('sync');
      const mb = store.bytes / 1e6;
      let found = 0;
      const harness = await reps(REPS, async () => {
        const t0 = performance.now();
        const { report } = await sops.scan('', secrets, [{ kind: 'store', dir: store.dir }], 8, `bench${process.pid}`);
        found = new Set(report.hits.map((h) => h.path)).size;
        return msSince(t0) / 1000;
      });
      const onePass = await reps(REPS, async () => {
        const t0 = performance.now();
        spawnSync('grep', ['-rlF', '-f', patterns, store.dir], { maxBuffer: 1 << 28 });
        return msSince(t0) / 1000;
      });
      const perSecret = await reps(REPS, async () => {
        const t0 = performance.now();
        for (const v of Object.values(values)) spawnSync('grep', ['-rlF', v, store.dir], { maxBuffer: 1 << 28 });
        return msSince(t0) / 1000;
      });
      const label = `${files} files, ${(store.bytes / (1 << 20)).toFixed(0)} MiB`;
      const h = figure(
        'scan',
        `harness scan, ${label}`,
        's',
        harness,
        `${(mb / median(harness)).toFixed(0)} MB/s; found ${found} of ${store.planted.size} planted files`,
      );
      const g = figure('scan', `grep -rlF -f patterns, ${label}`, 's', onePass, `${(mb / median(onePass)).toFixed(0)} MB/s; raw and hex only, no gzip`);
      const p = figure('scan', `grep per secret, ${label}`, 's', perSecret, `${SECRET_NAMES.length} passes, raw only`);
      largest = { mbps: mb / h.median };
      if (files === sizes[sizes.length - 1]![0]) {
        ratio('scan', 'harness vs one-pass grep', g.median / h.median, '≥ 0.8', g.median / h.median >= 0.8);
        ratio('scan', 'harness vs grep per secret', p.median / h.median, '≥ 4', p.median / h.median >= 4);
        ratio('scan', 'planted values found', found / store.planted.size, '= 1', found === store.planted.size);
      }
      rmSync(store.dir, { recursive: true, force: true });
    }
    if (largest)
      notes.push(
        `A 50 GB store would take about ${Math.round(50_000 / largest.mbps / 60)} min to scan at the largest size's rate (${largest.mbps.toFixed(0)} MB/s).`,
      );

    const commits = QUICK ? 1000 : 5000;
    say(`  making a repo of ${commits} commits`);
    const repo = makeRepo(join(work, 'repo'), commits, values);
    let foundHistory = 0;
    const hist = await reps(REPS, async () => {
      const t0 = performance.now();
      const { report } = await sops.scan('', secrets, [{ kind: 'history', dir: repo.dir }], 8, `benchh${process.pid}`);
      foundHistory = new Set(report.hits.map((h) => h.name)).size;
      return msSince(t0) / 1000;
    });
    const gitGrep = await reps(REPS, async () => {
      const t0 = performance.now();
      execFileSync('bash', ['-c', `git -C "$1" rev-list --all | xargs git -C "$1" grep -lF -f "$2" > /dev/null || true`, 'g', join(work, 'repo'), patterns], {
        maxBuffer: 1 << 28,
      });
      return msSince(t0) / 1000;
    });
    const hh = figure('scan', `harness history scan, ${commits} commits`, 's', hist, `found ${foundHistory} of ${new Set(repo.planted).size} planted secrets`);
    ratio('scan', 'planted history secrets found', foundHistory / Math.max(new Set(repo.planted).size, 1), '= 1', foundHistory === new Set(repo.planted).size);
    const gg = figure('scan', `git grep -F over rev-list --all, ${commits} commits`, 's', gitGrep);
    ratio('scan', 'harness history scan vs git grep', gg.median / hh.median, '≥ 0.8', gg.median / hh.median >= 0.8);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---- The harness's own cost ----

async function harnessBench(): Promise<void> {
  say('== the harness itself');
  const node = [process.execPath, '--disable-warning=ExperimentalWarning', '-r', join(PROJECT_ROOT, 'scripts', 'register.cjs')];
  const reports = mkdtempSync(join(tmpdir(), 'bench-reports-'));
  try {
    const dry = await reps(REPS, async () => {
      const t0 = performance.now();
      await execa(node[0]!, [...node.slice(1), join(PROJECT_ROOT, 'bin', 'acceptance.ts'), '--reports', reports, '--dry-run'], {
        cwd: PROJECT_ROOT,
        reject: false,
      });
      return msSince(t0) / 1000;
    });
    const bare = await reps(REPS, async () => {
      const t0 = performance.now();
      await execa(
        node[0]!,
        [
          ...node.slice(1),
          join(PROJECT_ROOT, 'node_modules', '@cucumber', 'cucumber', 'bin', 'cucumber.js'),
          '--dry-run',
          '--require-module',
          join(PROJECT_ROOT, 'scripts', 'register.cjs'),
          '--format',
          'summary',
        ],
        { cwd: PROJECT_ROOT, reject: false },
      );
      return msSince(t0) / 1000;
    });
    const d = figure('harness', '--dry-run of every feature', 's', dry);
    const b = figure('harness', 'bare cucumber-js --dry-run', 's', bare);
    ratio('harness', 'dry-run against bare cucumber-js', b.median / d.median, '≥ 0.67 (within 1.5×)', d.median / b.median <= 1.5);

    // How long after a condition becomes true a wait sees it, with the waits' own pauses.
    const lags: number[] = [];
    for (let i = 0; i < (QUICK ? 10 : 20); i++) {
      const at = Date.now() + 200 + ((i * 613) % 4000);
      const { waited } = await poll({ what: 'a condition', deadlineMs: 30_000, pauseMs: 500, maxPauseMs: 1000 }, async () =>
        Date.now() >= at ? true : undefined,
      );
      lags.push((Date.now() - at) / 1000);
      void waited;
    }
    const w = figure('harness', 'a wait sees its condition after', 's', lags, 'poll() with the stacks wait pauses (500 ms doubling to 1 s)');
    ratio('harness', 'wait lag under 1 s', 1 / Math.max(w.median, 1e-3), '≥ 1 (median under 1 s)', w.median < 1);
  } finally {
    rmSync(reports, { recursive: true, force: true });
  }
}

// ---- The harness's own cost in a full lab run ----

async function costBench(): Promise<void> {
  say("== the harness's own cost: full lab runs (every feature)");
  const reports = mkdtempSync(join(tmpdir(), 'bench-cost-'));
  try {
    const node = [process.execPath, '--disable-warning=ExperimentalWarning', '-r', join(PROJECT_ROOT, 'scripts', 'register.cjs')];
    const shares: number[] = [];
    const walls: number[] = [];
    for (let i = 0; i < REPS; i++) {
      const r = await execa(node[0]!, [...node.slice(1), join(PROJECT_ROOT, 'bin', 'acceptance.ts'), '--reports', reports], {
        cwd: PROJECT_ROOT,
        reject: false,
        all: true,
      });
      const runId = /^run (\d{8}-\d{6}-[0-9a-f]{4}):/m.exec(String(r.all))?.[1];
      const evidence = runId
        ? (JSON.parse(readFileSync(join(reports, runId, 'evidence.json'), 'utf8')) as { runFacts: { key: string; value: unknown }[] })
        : undefined;
      const cpu = evidence?.runFacts.find((f) => f.key === 'run.harnessCpu')?.value as { userMs: number; systemMs: number; wallMs: number } | undefined;
      if (r.exitCode !== 0 || !cpu) {
        notes.push(`a full lab run for the cost figure exited ${r.exitCode}${cpu ? '' : ' without run.harnessCpu'}; that repetition is left out`);
        continue;
      }
      shares.push((100 * (cpu.userMs + cpu.systemMs)) / cpu.wallMs);
      walls.push(cpu.wallMs / 1000);
      say(`  run ${i + 1}: ${(cpu.wallMs / 1000).toFixed(1)} s wall, harness CPU ${((cpu.userMs + cpu.systemMs) / 1000).toFixed(1)} s`);
    }
    if (!shares.length) return;
    figure('cost', 'a full lab run (every feature)', 's', walls);
    const share = figure(
      'cost',
      "the harness process's CPU, share of the run's wall time",
      '%',
      shares,
      "user + system CPU of the CLI process (cucumber, checks, drivers, the lab's orchestration), not of the hosts",
    );
    ratio('cost', 'harness share under 10 %', 10 / Math.max(share.median, 1e-3), '≥ 1 (under 10 % of wall time)', share.median < 10);
  } finally {
    rmSync(reports, { recursive: true, force: true });
  }
}

function markdown(): string {
  const lines = [
    `# Benchmark (${new Date().toISOString()}${QUICK ? ', quick' : ''})`,
    '',
    `Machine: ${require('node:os').cpus().length} CPU, Node ${process.version}. Medians of ${REPS} repetitions (min–max).`,
    '',
  ];
  for (const section of ['ssh', 'scan', 'harness', 'cost']) {
    const fs = figures.filter((f) => f.section === section);
    if (!fs.length) continue;
    lines.push(`## ${section}`, '', '| measure | median | min–max | note |', '| --- | --- | --- | --- |');
    for (const f of fs) lines.push(`| ${f.name} | ${f.median.toFixed(2)} ${f.unit} | ${f.min.toFixed(2)}–${f.max.toFixed(2)} | ${f.note ?? ''} |`);
    const rs = ratios.filter((r) => r.section === section);
    if (rs.length) {
      lines.push('', '| ratio | value | goal | met |', '| --- | --- | --- | --- |');
      for (const r of rs) lines.push(`| ${r.name} | ${r.value.toFixed(2)}× | ${r.goal} | ${r.met ? 'yes' : '**no**'} |`);
    }
    lines.push('');
  }
  if (notes.length) lines.push(...notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (!ONLY || ONLY === 'harness') await harnessBench();
  if (!ONLY || ONLY === 'ssh') await sshBench();
  if (!ONLY || ONLY === 'scan') await scanBench();
  if (!ONLY || ONLY === 'cost') await costBench();
  const out = join(PROJECT_ROOT, 'bench');
  mkdirSync(out, { recursive: true });
  // --only one section keeps the other sections of the last results.
  if (ONLY) {
    try {
      const prev = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { figures: Figure[]; ratios: Ratio[]; notes: string[] };
      figures.unshift(...prev.figures.filter((f) => f.section !== ONLY));
      ratios.unshift(...prev.ratios.filter((r) => r.section !== ONLY));
      // A note this run made again (the same words up to its figures) replaces the old one.
      notes.unshift(...prev.notes.filter((n) => !notes.some((m) => m.split(/\d/)[0] === n.split(/\d/)[0])));
    } catch {
      /* no earlier results */
    }
  }
  writeFileSync(join(out, 'results.json'), JSON.stringify({ at: new Date().toISOString(), quick: QUICK, figures, ratios, notes }, null, 2) + '\n');
  writeFileSync(join(out, 'results.md'), markdown());
  say(`\nbench: ${join('bench', 'results.md')} and results.json written`);
  void readFileSync;
}

process.on('beforeExit', () => {
  say('bench: stopped before it finished, waiting on something that can no longer happen (a bug); no results written');
  process.exit(1);
});

main().then(
  () => process.exit(0),
  (e: unknown) => {
    say(`bench: ${e instanceof Error ? e.stack : String(e)}`);
    process.exit(1);
  },
);
