import { Then, When, type DataTable } from '@cucumber/cucumber';
import { claimD8PointsAtPassingRun, claimD8Says } from '../../src/checks/c5';
import { claimLiveInstanceMemory, claimNoLeftovers, claimThrowawayMemory } from '../../src/checks/c6';
import { claimDocSays, claimDocsAvoid } from '../../src/checks/c7';
import type { Phrase } from '../../src/checks/doc-text';
import { finishThrowaways } from '../../src/tasks/throwaway';
import type { AcceptanceWorld } from '../support/world';

const phrases = (table: DataTable): Phrase[] => table.hashes().map((r) => ({ what: r.what!, pattern: r.pattern! }));

Then('{string} in the base repo says all of:', async function (this: AcceptanceWorld, path: string, table: DataTable) {
  await claimDocSays(this.run, path, phrases(table));
});

Then('DECISIONS.md in the base repo says all of:', async function (this: AcceptanceWorld, table: DataTable) {
  await claimDocSays(this.run, this.profile.docs.decisions, phrases(table));
});

Then('none of {string}, {string}, {string} says any of:', async function (this: AcceptanceWorld, a: string, b: string, c: string, table: DataTable) {
  await claimDocsAvoid(this.run, [a, b, c], phrases(table));
});

Then('the D8 evidence in the base repo says all of:', async function (this: AcceptanceWorld, table: DataTable) {
  await claimD8Says(this.run, phrases(table), []);
});

Then('it says none of:', async function (this: AcceptanceWorld, table: DataTable) {
  await claimD8Says(this.run, [], phrases(table));
});

Then('the D8 evidence points at a run of this harness, attached to the base repo, whose C4 passed', async function (this: AcceptanceWorld) {
  await claimD8PointsAtPassingRun(this.run);
});

Then("the live instance's limits.memory is {string}", async function (this: AcceptanceWorld, size: string) {
  await claimLiveInstanceMemory(this.run, size);
});

Then("the throwaway VM's limits.memory is {string}", async function (this: AcceptanceWorld, size: string) {
  await claimThrowawayMemory(this.run, size);
});

When('this run is done with its throwaway VMs', async function (this: AcceptanceWorld) {
  await finishThrowaways(this.run, this.run.params.destroy, this.run.throwawayFailed);
});

Then('no instance is left in the project but the live one and those the operator keeps', async function (this: AcceptanceWorld) {
  await claimNoLeftovers(this.run);
});
