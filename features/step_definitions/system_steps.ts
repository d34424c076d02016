import { Then, When } from '@cucumber/cucumber';
import { claimToplevelIdentical } from '../../src/checks/c1';
import { cleanBuild } from '../../src/tasks/system';
import type { AcceptanceWorld } from '../support/world';

When('the build host runs {string}', async function (this: AcceptanceWorld, command: string) {
  this.buildCommand = command;
  await cleanBuild(this.run, command);
});

Then("the toplevel it built is byte-identical to the live host's {string}", async function (this: AcceptanceWorld, probe: string) {
  await claimToplevelIdentical(this.run, this.buildCommand, probe);
});
