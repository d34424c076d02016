import { Given, Then, When } from '@cucumber/cucumber';
import {
  claimIncusProvisionsNothing,
  claimLedger,
  claimNothingPreprovisioned,
  claimRunning,
  claimSameToplevel,
  claimSecretsOnVm,
  claimStacks,
  claimVmServesGitCert,
  installed,
} from '../../src/checks/c4';
import { throwawayInstall, throwawayVm } from '../../src/tasks/throwaway';
import type { AcceptanceWorld } from '../support/world';

Given("a blank throwaway VM in the profile's Incus project, labelled by this run", async function (this: AcceptanceWorld) {
  this.usedThrowaway = true;
  await throwawayVm(this.run);
});

Then('before provisioning, the VM held nothing beyond its image', async function (this: AcceptanceWorld) {
  await claimNothingPreprovisioned(this.run);
});

Then(
  'Incus hands the VM nothing of its own: no cloud-init or user-data, no environment variables, no device but its network and root disk',
  async function (this: AcceptanceWorld) {
    await claimIncusProvisionsNothing(this.run);
  },
);

Then(
  "the provisioning ledger holds only the recovery key at \\/var\\/lib\\/sops-nix\\/key.txt, mode 0600, and the profile's clone credentials",
  async function (this: AcceptanceWorld) {
    await claimLedger(this.run);
  },
);

When('the install steps of docs\\/install.md run on the VM, with exactly one nixos-rebuild switch', async function (this: AcceptanceWorld) {
  await throwawayInstall(this.run);
});

Given('the install steps of docs\\/install.md have run on the VM', async function (this: AcceptanceWorld) {
  await installed(this.run);
});

Then('within the deadline the VM is running with no failed unit, and stays so for the stable window', async function (this: AcceptanceWorld) {
  await claimRunning(this.run);
});

Then("the VM's toplevel equals the live host's current system", async function (this: AcceptanceWorld) {
  await claimSameToplevel(this.run);
});

Then("every Swarm service on the VM runs at its desired replicas, and the stacks number the profile's count", async function (this: AcceptanceWorld) {
  await claimStacks(this.run);
});

Then('every secret in the secrets file is under \\/run\\/secrets on the VM, in memory, mode 0400, owned by root', async function (this: AcceptanceWorld) {
  await claimSecretsOnVm(this.run);
});

Then('the leaf the VM serves on its own 127.0.0.1:443 for the dashboard is the cert decrypted from git', async function (this: AcceptanceWorld) {
  await claimVmServesGitCert(this.run);
});
