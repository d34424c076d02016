import { Given, Then, When } from '@cucumber/cucumber';
import { claimEncryptedInGit } from '../../src/checks/c2';
import {
  claimAllEncrypted,
  claimKeyFile,
  claimMac,
  claimNoPlaintext,
  claimNoStrayKeys,
  claimRecipients,
  claimSecretsInMemory,
  plaintextScan,
} from '../../src/checks/c3';
import { gitSecretsFile } from '../../src/tasks/secrets';
import type { AcceptanceWorld } from '../support/world';

Given('the secrets file from a clean recursive clone of the base repo', async function (this: AcceptanceWorld) {
  await gitSecretsFile(this.run);
});

Then('it holds {string} and {string}, encrypted', async function (this: AcceptanceWorld, a: string, b: string) {
  await claimEncryptedInGit(this.run, [a, b]);
});

Then('every value in it is encrypted, apart from keys the profile allows by name', async function (this: AcceptanceWorld) {
  await claimAllEncrypted(this.run);
});

Then('its sops block has a MAC that verifies on a host that holds a key', async function (this: AcceptanceWorld) {
  await claimMac(this.run);
});

Then("its age recipients are exactly the profile's: the host key and the recovery key", async function (this: AcceptanceWorld) {
  await claimRecipients(this.run);
});

Then('on the live host \\/run\\/secrets is on tmpfs or ramfs and holds every secret, mode 0400, owned by root', async function (this: AcceptanceWorld) {
  await claimSecretsInMemory(this.run);
});

Then('the base repo declares sops.age.keyFile as the bootstrap key, which the live host holds with mode 0600', async function (this: AcceptanceWorld) {
  await claimKeyFile(this.run);
});

Then(
  "the live host holds no private key material outside \\/run\\/secrets and the bootstrap key, apart from the profile's expected keys",
  async function (this: AcceptanceWorld) {
    await claimNoStrayKeys(this.run);
  },
);

When(
  "a host that holds a key searches every commit on every ref of the base repo, and the live checkout, for every secret's plaintext",
  async function (this: AcceptanceWorld) {
    this.scan = await plaintextScan(this.run, 'repo');
  },
);

When("a host that holds a key searches \\/nix\\/store for every secret's plaintext", async function (this: AcceptanceWorld) {
  this.scan = await plaintextScan(this.run, 'store');
});

Then("no secret's plaintext is found", function (this: AcceptanceWorld) {
  claimNoPlaintext(this.run, this.scan!);
});
