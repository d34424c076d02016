import { Then, When } from '@cucumber/cucumber';
import {
  claimChainVerifies,
  claimKeyMatchesCert,
  claimOneCertificate,
  claimSymlinkIntoSecrets,
  claimValidFor,
  diskCert,
  gitCert,
  servedFromRunner,
  servedOnHost,
} from '../../src/checks/c2';
import type { AcceptanceWorld } from '../support/world';

Then('on the live host {string} is a symlink into \\/run\\/secrets', async function (this: AcceptanceWorld, path: string) {
  await claimSymlinkIntoSecrets(this.run, path);
});

When(
  "the cert is decrypted from git on a host that holds a key, read from the live host's disk, and read from 443 for the dashboard from the runner and on the live host",
  async function (this: AcceptanceWorld) {
    await Promise.all([gitCert(this.run), diskCert(this.run), servedFromRunner(this.run), servedOnHost(this.run)]);
  },
);

Then('all four have the same SHA-256 fingerprint, and the git and disk copies are byte-identical', async function (this: AcceptanceWorld) {
  await claimOneCertificate(this.run);
});

Then("the chain served on 443 for the dashboard verifies against the profile's CA bundle", async function (this: AcceptanceWorld) {
  await claimChainVerifies(this.run);
});

Then('on the live host the private key on disk matches the cert on disk', async function (this: AcceptanceWorld) {
  await claimKeyMatchesCert(this.run);
});

Then("the cert on the live host is valid now and for at least the profile's minimum days", async function (this: AcceptanceWorld) {
  await claimValidFor(this.run);
});
