import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { partiesOf } from '../../src/checks/c3';
import { converged, parseReplicas } from '../../src/drivers/docker';
import { parseIncusBytes, provisioningOf, showSize, type Instance } from '../../src/drivers/incus';
import { PROJECT_ROOT } from '../../src/paths';
import { parseSopsFile } from '../../src/sops/format';
import { composeImages, imageRef } from '../../src/checks/e2e';

// The parsers the strengthened checks rely on, fed the real tools' outputs as
// ../shared/reference/ records them (docker/cli goldens, Incus units, sops-nix's real file).

test('REPLICAS in every form docker/cli prints (cli/command/service/formatter_test.go)', () => {
  // Verbatim rows of TestServiceContextWrite: NAME MODE REPLICAS.
  const golden: [string, string, boolean][] = [
    ['replicated', '2/4', false],
    ['global', '1/3', false],
    ['replicated', '3/3 (max 2 per node)', true],
    ['replicated', '2/3 (max 1 per node)', false],
    ['replicated job', '2/3 (5/10 completed)', false],
    ['global job', '1/1 (3/4 completed)', false],
  ];
  for (const [mode, text, ok] of golden) {
    const r = parseReplicas(text);
    assert.ok(r, text);
    assert.equal(converged({ name: 'x', mode, text, replicas: r }), ok, `${mode} ${text}`);
  }
  assert.deepEqual(parseReplicas('3/3 (max 2 per node)'), { running: 3, desired: 3, maxPerNode: 2 });
  assert.deepEqual(parseReplicas('2/3 (5/10 completed)'), { running: 2, desired: 3, completed: 5, total: 10 });
  assert.equal(converged({ name: 'j', mode: 'replicated job', text: '0/0 (10/10 completed)', replicas: parseReplicas('0/0 (10/10 completed)') }), true);
  assert.equal(converged({ name: 'g', mode: 'global', text: '2/2', replicas: parseReplicas('2/2') }), true, 'traefik has been seen at 2/2');
  for (const bad of ['', '1/1 (max x per node)', 'one/one', '1 / 1']) assert.equal(parseReplicas(bad), undefined, bad);
  assert.equal(converged({ name: 'z', mode: 'replicated', text: '0/0', replicas: parseReplicas('0/0') }), false, 'nothing runs');
});

test('sizes by Incus units (shared/units/units.go): 4GB is 4×10^9, 4GiB 4×2^30, sloppy spellings are not sizes', () => {
  const table: [string, number | undefined][] = [
    ['4GiB', 4294967296],
    ['4096MiB', 4294967296],
    ['4GB', 4000000000],
    ['4000000000', 4000000000],
    ['4000000000B', 4000000000],
    ['512kB', 512000],
    ['1KiB', 1024],
    ['4G', undefined],
    ['4g', undefined],
    ['4gb', undefined],
    ['4KB', undefined],
    ['4 GiB', undefined],
    ['1.5GiB', undefined],
    ['4Gi', undefined],
    ['50%', undefined],
    ['', undefined],
  ];
  for (const [value, bytes] of table) assert.equal(parseIncusBytes(value), bytes, value);
  assert.equal(showSize('4096MiB'), '4096MiB (4294967296 bytes)');
  assert.equal(showSize('4G'), '4G (not a size Incus accepts)');
});

test('what Incus hands an instance: cloud-init, user-data, environment, devices beyond the nic and root disk', () => {
  // The shape of incus list --format json (reference/incus.md §1), with provisioning added.
  const i = {
    name: 'vm',
    status: 'Running',
    type: 'virtual-machine',
    project: 'p',
    created_at: '',
    config: {},
    expanded_config: {
      'limits.memory': '4GiB',
      'user.cc-ci-acceptance.run': 'x',
      'cloud-init.user-data': '#cloud-config',
      'user.vendor-data': 'x',
      'environment.TS_AUTHKEY': 'k',
      'volatile.uuid': 'u',
    },
    expanded_devices: {
      eth0: { name: 'eth0', network: 'incusbr0', type: 'nic' },
      root: { path: '/', pool: 'default', type: 'disk' },
      ops: { type: 'disk', source: '/srv/ops', path: '/mnt/ops' },
      fwd: { type: 'proxy', listen: 'tcp:0.0.0.0:80', connect: 'tcp:127.0.0.1:80' },
    },
  } as Instance;
  assert.deepEqual(provisioningOf(i), [
    'config cloud-init.user-data',
    'config user.vendor-data',
    'config environment.TS_AUTHKEY',
    'device ops (disk /srv/ops at /mnt/ops)',
    'device fwd (proxy)',
  ]);
  assert.deepEqual(
    provisioningOf({ ...i, expanded_config: { 'limits.memory': '4GiB' }, expanded_devices: { root: { path: '/', pool: 'default', type: 'disk' } } }),
    [],
  );
});

test("every party that can decrypt a sops file: sops-nix's real file has age and PGP recipients", () => {
  const text = readFileSync(join(PROJECT_ROOT, 'test', 'fixtures', 'sops-nix', 'secrets.yaml'), 'utf8');
  const parties = partiesOf(parseSopsFile(text, 'yaml').metadata);
  assert.deepEqual(
    parties.filter((p) => p.type === 'pgp').map((p) => p.id),
    ['7FB89715AADA920D65D25E63F9BA9DEBD03F57C0', '2504791468B153B8A3963CC97BA53D1919C5DFD4'],
  );
  assert.ok(parties.some((p) => p.type === 'age' && p.id.startsWith('age1')));
  // Shamir key groups: the flat lists are empty and every group's keys count (reference/sops.md §1).
  const grouped = partiesOf({
    age: [],
    pgp: [],
    other: {
      kms: [],
      key_groups: [
        { age: [{ recipient: 'age1aaa' }], hc_vault: [{ vault_address: 'https://v', engine_path: 'sops', key_name: 'k' }] },
        { kms: [{ arn: 'arn:aws:kms:x' }] },
      ],
    },
  } as never);
  assert.deepEqual(grouped, [
    { type: 'age', id: 'age1aaa' },
    { type: 'hc_vault', id: 'https://v/v1/sops/keys/k' },
    { type: 'kms', id: 'arn:aws:kms:x' },
  ]);
});

test('images as docker prints them, and as a compose file names them', () => {
  assert.equal(imageRef('nginx'), 'nginx:latest');
  assert.equal(imageRef('nginx:1.27'), 'nginx:1.27');
  assert.equal(imageRef('busybox:latest@sha256:abcd'), 'busybox:latest');
  assert.equal(imageRef('registry:5000/x/y'), 'registry:5000/x/y:latest');
  assert.deepEqual(composeImages('version: "3.8"\nservices:\n  app:\n    image: nginx:1.27\n  db:\n    image: postgres:16\n'), {
    app: 'nginx:1.27',
    db: 'postgres:16',
  });
});
