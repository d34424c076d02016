import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { RunEvidence } from '../src/evidence/report';
import { PROJECT_ROOT } from '../src/paths';

let reports: string | undefined;

const tempDirs: string[] = [];

/** A temporary directory of this test process, removed when it exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!tempDirs.length) process.on('exit', () => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  tempDirs.push(dir);
  return dir;
}

/**
 * The test suite's run folders: a temporary folder per test file, removed when every test of
 * the file passed and kept (its path printed) when one failed. The user's reports/ stays theirs.
 */
export function testReportsDir(): string {
  if (reports) return reports;
  const dir = mkdtempSync(join(tmpdir(), 'cc-ci-test-reports-'));
  reports = dir;
  // Registered from inside a test, so it runs after node:test has set the exit code.
  process.on('exit', () => {
    if (!process.exitCode) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`the test runs' reports are kept in ${dir}\n`);
  });
  return dir;
}

/**
 * The lab profile moved to 127.0.BLOCK.N: a lab of its own beside the one on 127.0.10.N (each
 * lab locks its addresses). Written once per test process, in its reports folder's parent.
 */
export function labProfileOn(block: number): string {
  const file = join(dirname(testReportsDir()), `${basename(testReportsDir())}-lab-${block}.yaml`);
  if (!existsSync(file)) {
    const text = readFileSync(join(PROJECT_ROOT, 'profiles', 'lab.yaml'), 'utf8');
    writeFileSync(file, text.replaceAll('127.0.10.', `127.0.${block}.`));
    process.on('exit', () => rmSync(file, { force: true }));
  }
  return file;
}

/**
 * How many labs the fault matrix runs side by side (CC_CI_TEST_LABS, 1 to 8; default 4): a fault's
 * lab mostly waits (on its E2E stages, its settle windows), so four share two cores well.
 */
export function labsAtATime(): number {
  const v = process.env.CC_CI_TEST_LABS;
  if (v === undefined || v === '') return 4;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new Error(`CC_CI_TEST_LABS must be a whole number from 1 to 8, not ${JSON.stringify(v)}`);
  return n;
}

/** Hands out the labs' profiles, one per test at a time: `lab` and its copies on other addresses. */
export class LabSlots {
  private readonly free: string[];
  private readonly waiting: ((profile: string) => void)[] = [];
  constructor(count: number) {
    this.free = ['lab', ...Array.from({ length: count - 1 }, (_, i) => labProfileOn(11 + i))];
  }
  async with<T>(fn: (profile: string) => Promise<T>): Promise<T> {
    const profile = this.free.shift() ?? (await new Promise<string>((resolve) => this.waiting.push(resolve)));
    try {
      return await fn(profile);
    } finally {
      const next = this.waiting.shift();
      if (next) next(profile);
      else this.free.push(profile);
    }
  }
}

export interface AcceptanceRun {
  exitCode: number;
  output: string;
  runId?: string;
  evidence?: RunEvidence;
}

/** A root that lacks `hide` (and has `files` as plain files): see test/fixtures/bare-root.sh. */
export interface BareRoot {
  root: string;
  hide: string[];
  files: string[];
}

/** Node's arguments for `npm run acceptance -- ARGS`, writing to the tests' reports folder. */
function acceptanceArgs(args: string[]): string[] {
  return [
    '--disable-warning=ExperimentalWarning',
    '-r',
    join(PROJECT_ROOT, 'scripts', 'register.cjs'),
    join(PROJECT_ROOT, 'bin', 'acceptance.ts'),
    '--reports',
    testReportsDir(),
    ...args,
  ];
}

/**
 * Runs `npm run acceptance -- ARGS` the way a user does: without the npm wrapper (and its
 * dependency check), or with `npm`, through it exactly as the README says.
 */
export async function acceptance(args: string[], env: Record<string, string> = {}, opts: { bareRoot?: BareRoot; npm?: boolean } = {}): Promise<AcceptanceRun> {
  let argv = opts.npm ? ['npm', 'run', '--silent', 'acceptance', '--', ...acceptanceArgs(args).slice(4)] : [process.execPath, ...acceptanceArgs(args)];
  if (opts.bareRoot) {
    const { root, hide, files } = opts.bareRoot;
    mkdirSync(root, { recursive: true });
    const bare = join(PROJECT_ROOT, 'test', 'fixtures', 'bare-root.sh');
    argv = ['unshare', '--mount', '--propagation', 'private', '--', bare, root, ...hide, ...files.flatMap((f) => ['--file', f]), '--', ...argv];
  }
  const r = await execa(argv[0]!, argv.slice(1), { cwd: PROJECT_ROOT, reject: false, all: true, env: { ...env, FORCE_COLOR: '0' } });
  const output = String(r.all ?? '');
  const runId = /^run (\d{8}-\d{6}-[0-9a-f]{4}):/m.exec(output)?.[1];
  let evidence: RunEvidence | undefined;
  if (runId) {
    try {
      evidence = JSON.parse(readFileSync(join(testReportsDir(), runId, 'evidence.json'), 'utf8')) as RunEvidence;
    } catch {
      /* the run stopped before writing evidence */
    }
  }
  return { exitCode: r.exitCode ?? -1, output, runId, evidence };
}

export function statusByTag(e: RunEvidence): Map<string, string> {
  const m = new Map<string, string>();
  for (const s of e.scenarios) for (const t of s.tags) if (/^@(c\d+|e2e)-/.test(t)) m.set(t, s.status);
  return m;
}

/**
 * An Allure report as a person sees it: served on loopback and rendered by headless Chromium
 * (Debian's, offline flags). Returns the text of the report's first page, of the named test's
 * page, and of that test's Attachments tab.
 */
export async function renderedReport(reportDir: string, testName: string): Promise<{ landing: string; overview: string; attachments: string }> {
  const { createServer } = await import('node:http');
  const { chromium } = await import('playwright-core');
  const server = createServer((q, s) => {
    let p = join(reportDir, decodeURIComponent((q.url ?? '/').split('?')[0]!));
    if (p.endsWith('/')) p += 'index.html';
    try {
      const body = readFileSync(p);
      s.writeHead(200);
      s.end(body);
    } catch {
      s.writeHead(404);
      s.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.getByText(testName).first().waitFor({ timeout: 15_000 });
    const landing = await page.innerText('body');
    await page.getByText(testName).first().click();
    await page.getByText('expected:').first().waitFor({ timeout: 15_000 });
    const overview = await page.innerText('body');
    await page
      .getByRole('button', { name: /Attachments/ })
      .first()
      .click();
    await page
      .getByText(/\.log$/)
      .first()
      .waitFor({ timeout: 15_000 });
    return { landing, overview, attachments: await page.innerText('body') };
  } finally {
    await browser.close();
    server.close();
  }
}

export interface LiveRun {
  pid: number;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Resolves when the output matches, with the match; rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Signals the run's process group (as Ctrl-C does), or only its process. */
  signal(sig: NodeJS.Signals, opts?: { group?: boolean }): void;
}

/** `npm run acceptance -- ARGS` started in its own process group, watched while it runs. */
export function startAcceptance(args: string[], env: Record<string, string> = {}): LiveRun {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const argv = acceptanceArgs(args);
  const child = spawn(process.execPath, argv, {
    cwd: PROJECT_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, FORCE_COLOR: '0' },
  });
  let text = '';
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer) => {
    text += d.toString();
    for (const w of [...waiters]) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => {
      for (const w of [...waiters]) w();
      resolve({ code, signal, at: Date.now() });
    }),
  );
  let done = false;
  void exited.then(() => (done = true));
  return {
    pid: child.pid!,
    output: () => text,
    waitFor(pattern, timeoutMs = 240_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`never printed ${pattern} in ${timeoutMs / 1000}s:\n${text.slice(-3000)}`));
        }, timeoutMs);
        const check = () => {
          const m = pattern.exec(text);
          if (m || done) {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(check), 1);
            if (m) resolve(m);
            else reject(new Error(`exited before printing ${pattern}:\n${text.slice(-3000)}`));
          }
        };
        waiters.push(check);
        check();
      });
    },
    exited,
    signal(sig, opts = { group: true }) {
      process.kill(opts.group === false ? child.pid! : -child.pid!, sig);
    },
  };
}
