import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IMAGE_FILES, IMAGE_LATER, IMAGE_UNDER } from '../../lab/src/image';
import { PROJECT_ROOT } from '../../src/paths';
import { loadProfile } from '../../src/profile/load';
import { join } from 'node:path';

// The lab's blank instance and the profiles' image baseline say the same about a fresh
// images:nixos/24.05 VM (../shared/reference/nixos-incus-image-and-rebuild.md §3): what the image
// holds, what it makes later by itself, and where its boot writes.

const profiles = ['lab', 'cc-ci', join(PROJECT_ROOT, 'test', 'fixtures', 'profiles', 'live-shaped.yaml')];

for (const name of profiles) {
  test(`the image baseline of ${name.split('/').pop()} is the lab image's`, () => {
    const t = loadProfile(name, { LAB_DIR: '/lab' }).profile.throwaway!;
    assert.deepEqual([...t.imageBaseline].sort(), [...IMAGE_FILES].sort());
    assert.deepEqual([...t.imageLater].sort(), [...IMAGE_LATER].sort());
    assert.deepEqual([...t.imageBaselineUnder].sort(), [...IMAGE_UNDER].sort());
  });
}
