import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LABEL, provisioningOf, type Instance } from '../../src/drivers/incus';

// What Incus hands a VM besides its image, read from the instance's expanded config: raw QEMU
// arguments and user.* keys are channels into the guest too (../shared/reference/incus.md).

const instance = (config: Record<string, string>) =>
  ({
    name: 'vm',
    config,
    expanded_config: config,
    devices: {},
    expanded_devices: { root: { type: 'disk', path: '/', pool: 'default' } },
  }) as unknown as Instance;

test('raw.qemu that passes data or a device, raw.qemu.conf sections, scriptlets and user.* keys are provisioning', () => {
  assert.deepEqual(
    provisioningOf(
      instance({
        'raw.qemu': '-fw_cfg name=opt/ops/token,string=x',
        'raw.qemu.conf': '[device "ops"]\ndriver = "virtio-9p-pci"\n',
        'raw.qemu.scriptlet': 'def qemu_hook(instance, stage):\n  pass\n',
        'user.ops.token': 'x',
      }),
    ),
    ['config raw.qemu', 'config raw.qemu.conf', 'config raw.qemu.scriptlet', 'config user.ops.token'],
  );
  for (const args of ['-smbios type=11,value=io.systemd.credential:x=y', '-drive file=/srv/x.img', '-kernel /boot/k -append "x"']) {
    assert.deepEqual(provisioningOf(instance({ 'raw.qemu': args })), ['config raw.qemu'], args);
  }
});

test("sizes through raw.qemu, the harness's own labels and ordinary limits are not provisioning", () => {
  assert.deepEqual(
    provisioningOf(
      instance({
        'raw.qemu': '-m 6144',
        'raw.qemu.conf': '[memory]\nsize = "6144M"\n',
        [`${LABEL}.by`]: 'run 1',
        [`${LABEL}.expires`]: '2026-12-08T00:00:00Z',
        'limits.memory': '4GiB',
        'security.secureboot': 'false',
      }),
    ),
    [],
  );
});
