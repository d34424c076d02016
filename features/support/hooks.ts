import { After, AfterAll, Before, BeforeStep, setDefaultTimeout } from '@cucumber/cucumber';
import { ALLURE_RUNTIME_MESSAGE_CONTENT_TYPE } from 'allure-js-commons/sdk/reporter';
import { HostBrokenError } from '../../src/errors';
import { enterScenario, enterStep, isInterrupted, leaveScenario } from '../../src/run/activity';
import { RunContext } from '../../src/run/context';
import type { AcceptanceWorld } from './world';

// Step time limits come from the profile's timeouts, enforced by the drivers; cucumber's own
// limit is only a backstop against a hang the drivers did not catch.
setDefaultTimeout(4 * 60 * 60 * 1000);

Before(function (this: AcceptanceWorld, { pickle }) {
  // After an interrupt nothing new starts: the run is being stopped.
  if (isInterrupted()) return 'skipped';
  enterScenario(pickle.id, pickle.name);
  this.run.recorder.enter({
    pickleId: pickle.id,
    name: pickle.name,
    attach: (data, opts) => this.attach(data, opts),
    // A fact shows in the report as a parameter of the Gherkin step that measured it (Allure's step metadata).
    showFact: (key, value) =>
      this.attach(JSON.stringify({ type: 'step_metadata', data: { parameters: [{ name: key, value }] } }), ALLURE_RUNTIME_MESSAGE_CONTENT_TYPE),
  });
  const pre = this.run.params.preflightFailure;
  if (pre) {
    throw new HostBrokenError({
      claim: 'the doctor found something this scenario needs missing, so nothing was run',
      expected: 'every host, tool, credential, token and name the selected checks need (npm run doctor)',
      seen: pre.reason,
      host: 'runner',
      evidence: [pre.evidence],
    });
  }
});

After(function (this: AcceptanceWorld, { result }) {
  if (this.usedThrowaway && result?.status !== 'PASSED') this.run.throwawayFailed = true;
  this.run.recorder.leave();
  leaveScenario();
});

BeforeStep(({ pickleStep }) => {
  enterStep(pickleStep.text);
});

AfterAll(async () => {
  await RunContext.current?.close();
});
