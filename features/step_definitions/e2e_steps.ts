import { Given, Then, When } from '@cucumber/cucumber';
import {
  bridgeAlive,
  claimOutsider,
  deployedUrl,
  finished,
  pendingReported,
  pickedUp,
  postComment,
  reachable,
  reported,
  runsPrHead,
  startsNothing,
  undeployed,
} from '../../src/checks/e2e';
import type { AcceptanceWorld } from '../support/world';

When("the bot posts {string} on the profile's PR", async function (this: AcceptanceWorld, body: string) {
  this.comment = { as: 'bot', body };
  await postComment(this.run, 'bot', body);
});

When("a user outside the org posts {string} on the profile's PR", async function (this: AcceptanceWorld, body: string) {
  this.comment = { as: 'non-member', body };
  await postComment(this.run, 'non-member', body);
});

Then('within its deadline a new Drone build for that PR is picked up', async function (this: AcceptanceWorld) {
  await pickedUp(this.run);
});

Then("the commit status {string} goes pending with that build's URL", async function (this: AcceptanceWorld, context: string) {
  await pendingReported(this.run, context);
});

Then('the app answers 200 on its per-run subdomain through the public gateway', async function (this: AcceptanceWorld) {
  await deployedUrl(this.run);
  await reachable(this.run);
});

Then(
  "while it is deployed, the app is the PR head: its services run the images of the head's compose file, and it serves the head's content",
  async function (this: AcceptanceWorld) {
    await runsPrHead(this.run);
  },
);

Given("the bridge has picked up a member's {string} on the profile's PR in this run", async function (this: AcceptanceWorld, body: string) {
  if (body !== '!testme') throw new Error(`the bridge's liveness is shown with "!testme", not ${JSON.stringify(body)}`);
  await bridgeAlive(this.run);
});

Given("the forge says the non-member's user is not a member of the org", async function (this: AcceptanceWorld) {
  await claimOutsider(this.run);
});

Then('the build succeeds', async function (this: AcceptanceWorld) {
  await finished(this.run);
});

Then(
  'afterwards the subdomain no longer answers, and no stack, service, volume or secret of the app is left on the live host',
  async function (this: AcceptanceWorld) {
    await undeployed(this.run);
  },
);

Then('the final {string} status is success, and a PR comment links the build', async function (this: AcceptanceWorld, context: string) {
  await reported(this.run, context);
});

Then('no build starts for that PR within the quiet window', async function (this: AcceptanceWorld) {
  await startsNothing(this.run, this.comment!.as, this.comment!.body);
});
