import { setWorldConstructor, World, type IWorldOptions } from '@cucumber/cucumber';
import type { PlaintextScan } from '../../src/checks/c3';
import { RunContext, type RunParameters } from '../../src/run/context';

export class AcceptanceWorld extends World<RunParameters> {
  readonly run: RunContext;
  /** The nixos-rebuild command a scenario ran, as the feature wrote it. */
  buildCommand = '';
  /** Whether this scenario used the throwaway VM (a red one keeps it, under --destroy passing). */
  usedThrowaway = false;
  /** The comment a scenario posted. */
  comment?: { as: 'bot' | 'non-member'; body: string };
  /** The plaintext scan a scenario ran. */
  scan?: PlaintextScan;

  constructor(options: IWorldOptions<RunParameters>) {
    super(options);
    this.run = RunContext.of(options.parameters);
  }

  get profile() {
    return this.run.profile;
  }

  /** Records a measured fact on the current scenario. */
  fact(key: string, value: unknown, host?: string): void {
    this.run.recorder.fact(key, value, host);
  }
}

setWorldConstructor(AcceptanceWorld);
