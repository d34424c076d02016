import { Given, Then, When } from '@cucumber/cucumber';
import { baseMirror, recursiveClone } from '../../src/tasks/repos';
import { claimCloneHoldsFile, claimGitlink, claimGitmodulesUrl, claimNoSecretsFileInHistory, claimSubmoduleAtGitlink } from '../../src/checks/c1';
import type { AcceptanceWorld } from '../support/world';

Given('the base repo, mirrored with all its refs on the build host', async function (this: AcceptanceWorld) {
  await baseMirror(this.run);
});

Then('the base repo records {string} as a gitlink, a submodule commit', async function (this: AcceptanceWorld, path: string) {
  await claimGitlink(this.run, path);
});

Then(".gitmodules maps {string} to the secrets repo's URL", async function (this: AcceptanceWorld, path: string) {
  await claimGitmodulesUrl(this.run, path);
});

Then(
  'no commit on any ref of the base repo has a file named {string}, a file carrying sops metadata, or a file under {string}',
  async function (this: AcceptanceWorld, name: string, submodule: string) {
    await claimNoSecretsFileInHistory(this.run, name, submodule);
  },
);

When('the build host makes a clean recursive clone of the base repo', async function (this: AcceptanceWorld) {
  await recursiveClone(this.run);
});

Given('the build host has a clean recursive clone of the base repo', async function (this: AcceptanceWorld) {
  await recursiveClone(this.run);
});

Then('the clone has {string}', async function (this: AcceptanceWorld, path: string) {
  await claimCloneHoldsFile(this.run, path);
});

Then("the clone's {string} is checked out at the commit its gitlink records", async function (this: AcceptanceWorld, path: string) {
  await claimSubmoduleAtGitlink(this.run, path);
});
