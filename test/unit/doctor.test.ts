import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { execa } from 'execa';
import { type DoctorRow, tagsOfGate, hostsNeeded, nameRows, needsOf, type Resolver, SCENARIO_NEEDS, toolsNeeded } from '../../src/cli/doctor';
import { cucumberConfiguration, type PlannedScenario, plannedScenarios } from '../../src/cli/plan';
import { UsageError } from '../../src/errors';
import { PROJECT_ROOT } from '../../src/paths';
import { loadProfile } from '../../src/profile/load';
import type { Profile } from '../../src/profile/schema';

// The doctor's pure parts: what each selected scenario needs (hosts, tools), a gate's selection,
// and the rows for the public names with a resolver the test controls. Nothing is contacted.

const lab = loadProfile('lab', { LAB_DIR: '/lab' }).profile;
const ccci = loadProfile('cc-ci').profile;

/** The scenarios a tag expression selects, as the doctor gets them. */
const selected = async (tags: string): Promise<PlannedScenario[]> => plannedScenarios(await cucumberConfiguration(['--tags', tags]));
const tools = (p: Profile, planned: PlannedScenario[]) => toolsNeeded(p, planned).map((t) => `${t.tool} on ${t.host}`);

describe('what each scenario needs', () => {
  test('every scenario of the features has its needs, and no needs are left for a scenario that is gone', async () => {
    const all = await plannedScenarios(await cucumberConfiguration([]));
    const tags = all.map((p) => p.tags.filter((t) => /^@(c\d+|e2e)-/.test(t)));
    assert.deepEqual(
      all.filter((_, i) => tags[i]!.filter((t) => t in SCENARIO_NEEDS).length !== 1).map((p) => `${p.name}: ${p.tags.join(' ')}`),
      [],
      'each scenario has exactly one tag with needs',
    );
    assert.deepEqual(
      Object.keys(SCENARIO_NEEDS).filter((t) => !tags.flat().includes(t)),
      [],
    );
  });

  test('@c4-tls decrypts the git cert with sops and digests it with openssl on the host that decrypts, after a clone on the build host', async () => {
    const planned = await selected('@c4-tls');
    assert.deepEqual(tools(lab, planned), [
      'git on builder',
      'sops on cc-ci',
      'openssl on cc-ci',
      'incus on runner',
      'incus access to terraform-ci on runner',
      'image images:nixos/24.05 on runner',
    ]);
    assert.deepEqual(hostsNeeded(lab, planned).sort(), ['builder', 'cc-ci', 'runner']);
    // With secrets.decryptOn, sops and openssl are asked for there, and the live host is not reached.
    const elsewhere: Profile = { ...lab, secrets: { ...lab.secrets, decryptOn: 'builder' } };
    assert.deepEqual(tools(elsewhere, planned).slice(0, 3), ['git on builder', 'sops on builder', 'openssl on builder']);
    assert.deepEqual(hostsNeeded(elsewhere, planned).sort(), ['builder', 'runner']);
  });

  test("@c4-toplevel reads the live host's system: the live host, with nix-store and nix-hash", async () => {
    const planned = await selected('@c4-toplevel');
    assert.ok(tools(lab, planned).includes('nix-store and nix-hash on cc-ci'), tools(lab, planned).join(', '));
    assert.ok(!tools(lab, planned).some((t) => t.startsWith('sops') || t.startsWith('openssl')));
    assert.ok(hostsNeeded(lab, planned).includes('cc-ci'));
  });

  test('all of C4: the live host, sops and openssl are asked for; on cc-ci, one host builds, decrypts and runs', async () => {
    const planned = await selected('@C4');
    const needs = needsOf(planned);
    for (const n of ['live', 'live nix-store', 'decrypt sops', 'decrypt openssl', 'incus', 'incus image', 'build git'] as const) assert.ok(needs.has(n), n);
    assert.deepEqual(tools(ccci, planned), [
      'git on cc-ci',
      'nix-store and nix-hash on cc-ci',
      'sops on cc-ci',
      'openssl on cc-ci',
      'incus on runner',
      'incus access to terraform-ci on runner',
      'image images:nixos/24.05 on runner',
    ]);
    assert.deepEqual(hostsNeeded(ccci, planned).sort(), ['cc-ci', 'runner']);
  });

  test('a scenario that needs less is not held up by what it does not run', async () => {
    // Only Incus: the blank VM before anything is provisioned.
    assert.deepEqual(hostsNeeded(lab, await selected('@c4-nothing-else')), ['runner']);
    // Only the live host's files: no tool is probed.
    assert.deepEqual(toolsNeeded(lab, await selected('@c2-cert-links')), []);
    assert.deepEqual(hostsNeeded(lab, await selected('@c2-cert-links')), ['cc-ci']);
    // The silent comments need the forge and CI, not the live host's docker or the gateway.
    const silent = await selected('@e2e-non-member or @e2e-lookalike');
    assert.deepEqual([...needsOf(silent)], ['tokens']);
    assert.deepEqual(hostsNeeded(lab, silent), []);
    assert.deepEqual(tools(lab, await selected('@e2e-testme')), ['docker on cc-ci']);
    // DECISIONS.md is read from the clone: Incus is not asked for.
    assert.deepEqual(tools(lab, await selected('@c6-decisions')), ['git on builder']);
  });

  test('C2 reads the secrets file from the clone: git on the build host', async () => {
    assert.deepEqual(tools(lab, await selected('@c2-cert-in-sops')), ['git on builder']);
    assert.deepEqual(tools(lab, await selected('@C2')), ['git on builder', 'sops on cc-ci', 'openssl on cc-ci']);
  });

  test('a scenario tag without needs (one added since) needs all its criterion needs', () => {
    const planned: PlannedScenario[] = [{ name: 'new', uri: 'features/c4_throwaway_rebuild.feature', tags: ['@C4', '@mutating', '@c4-new'] }];
    const all = new Set(Object.entries(SCENARIO_NEEDS).flatMap(([t, n]) => (t.startsWith('@c4-') ? n : [])));
    assert.deepEqual([...needsOf(planned)].sort(), [...all].sort());
  });
});

describe('--gate', () => {
  test("a gate selects its criteria, as npm run acceptance -- --gate does; an unknown gate names the profile's gates", () => {
    assert.equal(tagsOfGate(lab, 'W2'), '@C1 or @C2 or @C3');
    assert.equal(tagsOfGate(lab, 'E2E'), '@e2e');
    assert.throws(
      () => tagsOfGate(lab, 'W9'),
      (e: unknown) => e instanceof UsageError && /profile lab has no gate W9 \(gates: W2, W4, W5, W6, E2E\)/.test(e.message),
    );
  });

  test('npm run doctor -- --gate: an unknown gate, or a gate narrowed by --tags, is a usage error (exit 2) before anything is contacted', async () => {
    // Without LAB_DIR: a gate that is known gets as far as the lab profile's need of a running lab.
    const doctor = (...args: string[]) =>
      execa(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', '-r', join(PROJECT_ROOT, 'scripts', 'register.cjs'), join(PROJECT_ROOT, 'bin', 'doctor.ts'), ...args],
        { cwd: PROJECT_ROOT, reject: false, all: true, env: { PATH: process.env.PATH, FORCE_COLOR: '0' }, extendEnv: false },
      );
    const unknown = await doctor('--gate', 'W9');
    assert.deepEqual([unknown.exitCode, unknown.all], [2, 'error: --gate: profile lab has no gate W9 (gates: W2, W4, W5, W6, E2E)']);
    const narrowed = await doctor('--gate', 'W2', '--tags', '@C1');
    assert.equal(narrowed.exitCode, 2);
    assert.match(String(narrowed.all), /--gate W2 selects every scenario of its criteria; it cannot be combined with --tags/);
    const known = await doctor('--gate=W2');
    assert.equal(known.exitCode, 2);
    assert.match(String(known.all), /needs LAB_DIR/);
    assert.match(String((await doctor('--help')).all), /--gate ID \| --tags EXPR \| --name TEXT/);
  });

  test("a gate's tag expression selects exactly its criteria's scenarios", async () => {
    const w5 = await selected(tagsOfGate(lab, 'W5'));
    assert.ok(w5.length > 0);
    assert.ok(w5.every((p) => p.tags.includes('@C4') || p.tags.includes('@C5')));
    assert.equal(w5.length, (await selected('@C4')).length + (await selected('@C5')).length);
  });
});

describe('public names, resolved by a resolver the test controls', () => {
  /** A resolver from a table: a name not in it does not resolve (ENOTFOUND); every name asked is noted. */
  const dns = (table: Record<string, string[]>) => {
    const asked: string[] = [];
    const resolve: Resolver = async (name) => {
      asked.push(name);
      const a = table[name];
      if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
      return a;
    };
    return { resolve, asked };
  };
  const only = (rows: DoctorRow[], check: RegExp) => {
    const r = rows.filter((x) => check.test(x.check));
    assert.equal(r.length, 1, JSON.stringify(rows));
    return r[0]!;
  };
  const withGateway = (p: Profile, gateway: Partial<NonNullable<Profile['e2e']>['gateway']>): Profile => ({
    ...p,
    e2e: { ...p.e2e!, gateway: { ...p.e2e!.gateway, ...gateway } },
  });
  const withTls = (p: Profile, tls: Partial<Profile['tls']>): Profile => ({ ...p, tls: { ...p.tls, ...tls } });

  test('the gateway, not pinned: where it resolves is shown, and it passes', async () => {
    const { resolve } = dns({ 'ci.commoninternet.net': ['203.0.113.7'] });
    const row = only(await nameRows(ccci, await selected('@e2e-testme'), resolve), /^e2e\.gateway\.address/);
    assert.deepEqual(row, {
      check: 'e2e.gateway.address resolves',
      host: 'runner',
      ok: true,
      seen: 'ci.commoninternet.net -> 203.0.113.7; not pinned (e2e.gateway.expect unset)',
      todo: '',
    });
  });

  test('the gateway, pinned: where it resolves is compared with the pin', async () => {
    const planned = await selected('@e2e-testme');
    const pinned = withGateway(ccci, { expect: ['203.0.113.7'] });
    const match = only(await nameRows(pinned, planned, dns({ 'ci.commoninternet.net': ['203.0.113.7'] }).resolve), /^e2e\.gateway/);
    assert.equal(match.ok, true);
    assert.equal(match.seen, 'ci.commoninternet.net -> 203.0.113.7, as pinned (e2e.gateway.expect)');
    const elsewhere = only(await nameRows(pinned, planned, dns({ 'ci.commoninternet.net': ['203.0.113.7', '198.51.100.9'] }).resolve), /^e2e\.gateway/);
    assert.equal(elsewhere.ok, false);
    assert.equal(elsewhere.seen, 'ci.commoninternet.net -> 203.0.113.7, 198.51.100.9');
    assert.equal(elsewhere.todo, 'ci.commoninternet.net should resolve to 203.0.113.7 (e2e.gateway.expect): fix DNS, or the pin');
  });

  test('the gateway given as an address is not resolved, and is still held to its pin', async () => {
    const { resolve, asked } = dns({});
    const rows = await nameRows(withGateway(lab, { expect: ['127.0.10.99'] }), await selected('@e2e-testme'), resolve);
    const row = only(rows, /^e2e\.gateway/);
    assert.equal(row.ok, false);
    assert.match(row.seen, /^127\.0\.10\.5 -> 127\.0\.10\.5$/);
    assert.match(row.todo, /should resolve to 127\.0\.10\.99/);
    assert.deepEqual(asked, []);
  });

  test('a gateway that does not resolve fails, saying what to do', async () => {
    const row = only(await nameRows(ccci, await selected('@e2e-testme'), dns({}).resolve), /^e2e\.gateway/);
    assert.deepEqual(
      [row.ok, row.seen, row.todo],
      [
        false,
        'ci.commoninternet.net: ENOTFOUND',
        'make ci.commoninternet.net resolve from here: the E2E reaches every app through it (or set e2e.gateway.address to its address)',
      ],
    );
  });

  test('the dashboard, reached by its own name (cc-ci): not pinned, shown; a name that does not resolve fails', async () => {
    const planned = await selected('@c2-chain');
    const ok = only(await nameRows(ccci, planned, dns({ 'ci.commoninternet.net': ['203.0.113.7'] }).resolve), /resolves$/);
    assert.deepEqual(
      [ok.check, ok.ok, ok.seen],
      ['tls.dashboard resolves', true, 'ci.commoninternet.net -> 203.0.113.7; not pinned (tls.connect.address is the name itself)'],
    );
    const gone = only(await nameRows(ccci, planned, dns({}).resolve), /resolves$/);
    assert.equal(gone.ok, false);
    assert.equal(gone.seen, 'ci.commoninternet.net: ENOTFOUND');
    assert.match(gone.todo, /^make ci\.commoninternet\.net resolve from here: the TLS checks connect to it/);
  });

  test('the dashboard, pinned by tls.connect.address (the lab): DNS elsewhere fails, the pin itself or no DNS answer passes', async () => {
    const planned = await selected('@c2-one-cert');
    const at = (table: Record<string, string[]>) => nameRows(lab, planned, dns(table).resolve).then((rows) => only(rows, /^tls\.dashboard/));
    const none = await at({});
    assert.equal(none.ok, true);
    assert.equal(
      none.seen,
      'ci.lab.test does not resolve from here (ENOTFOUND); the checks connect to 127.0.10.3 (tls.connect.address), as curl --resolve would',
    );
    const same = await at({ 'ci.lab.test': ['127.0.10.3'] });
    assert.deepEqual([same.ok, same.seen], [true, 'ci.lab.test -> 127.0.10.3; the checks connect to 127.0.10.3 (tls.connect.address), as pinned']);
    const elsewhere = await at({ 'ci.lab.test': ['198.51.100.9'] });
    assert.equal(elsewhere.ok, false);
    assert.equal(elsewhere.seen, 'ci.lab.test -> 198.51.100.9; the checks connect to 127.0.10.3 (tls.connect.address)');
    assert.match(elsewhere.todo, /fix DNS, or set tls\.connect\.address to where ci\.lab\.test resolves$/);
  });

  test('the dashboard, pinned to another name: that name must resolve, and the dashboard must resolve where it does', async () => {
    const planned = await selected('@c2-chain');
    const viaGateway = withTls(ccci, { connect: { address: 'gw.example.net', port: 443 } });
    const gone = only(await nameRows(viaGateway, planned, dns({ 'ci.commoninternet.net': ['203.0.113.7'] }).resolve), /^tls\.dashboard/);
    assert.equal(gone.ok, false);
    assert.equal(gone.seen, 'the checks connect to gw.example.net (tls.connect.address), which does not resolve: ENOTFOUND');
    const same = only(
      await nameRows(viaGateway, planned, dns({ 'ci.commoninternet.net': ['203.0.113.7'], 'gw.example.net': ['203.0.113.7'] }).resolve),
      /^tls\.dashboard/,
    );
    assert.deepEqual(
      [same.ok, same.seen],
      [true, 'ci.commoninternet.net -> 203.0.113.7; the checks connect to gw.example.net (203.0.113.7) (tls.connect.address), as pinned'],
    );
    const apart = only(
      await nameRows(viaGateway, planned, dns({ 'ci.commoninternet.net': ['203.0.113.7'], 'gw.example.net': ['198.51.100.9'] }).resolve),
      /^tls\.dashboard/,
    );
    assert.equal(apart.ok, false);
  });

  test('without tls.dashboard, the dashboard is the domain', async () => {
    const row = only(
      await nameRows(withTls(ccci, { dashboard: undefined }), await selected('@c2-chain'), dns({ 'ci.commoninternet.net': ['203.0.113.7'] }).resolve),
      /resolves$/,
    );
    assert.equal(row.check, 'domain resolves');
  });

  test('only the names the selection connects to are resolved', async () => {
    const { resolve, asked } = dns({ 'ci.commoninternet.net': ['203.0.113.7'] });
    assert.deepEqual(await nameRows(ccci, await selected('@c2-cert-links or @C4 or @e2e-non-member'), resolve), []);
    assert.deepEqual(asked, []);
    const both = await nameRows(ccci, await selected('@C2 or @e2e'), resolve);
    assert.deepEqual(
      both.map((r) => [r.check, r.ok]),
      [
        ['e2e.gateway.address resolves', true],
        ['tls.dashboard resolves', true],
      ],
    );
  });
});
