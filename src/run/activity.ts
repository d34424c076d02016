// What the run is doing right now, for an interrupt to name: a stage of the CLI, or a
// scenario's step (set by the hooks).

const state: { stage: string; scenario?: { id: string; name: string }; step?: string } = { stage: 'starting' };

export function setStage(stage: string): void {
  state.stage = stage;
}

export function enterScenario(id: string, name: string): void {
  state.scenario = { id, name };
  state.step = undefined;
}

export function enterStep(text: string): void {
  state.step = text;
}

export function leaveScenario(): void {
  state.scenario = undefined;
  state.step = undefined;
}

/** The running scenario, if any. */
export function runningScenario(): { id: string; name: string } | undefined {
  return state.scenario;
}

/** "scenario "…", step "…"" or the stage, e.g. "lab start", "fault script x.sh". */
export function describeActivity(): string {
  if (state.scenario) return `scenario "${state.scenario.name}"${state.step ? `, step "${state.step}"` : ''}`;
  return state.stage;
}

let interrupted = false;

/** Set once a signal stops the run: nothing new starts after it. */
export function markInterrupted(): void {
  interrupted = true;
}

export function isInterrupted(): boolean {
  return interrupted;
}
