import type { Fact, Recorder } from '../evidence/recorder';

/**
 * Results computed once per run (a clone, a build, an E2E stage). A scenario that asks for one
 * computed for an earlier scenario gets the same outcome, and the facts measured computing it are
 * attached to it too: each scenario's evidence holds what it asserts.
 */
export class Memo {
  private readonly results = new Map<string, { result: Promise<unknown>; facts: Fact[] }>();

  constructor(private readonly recorder: Recorder) {}

  once<T>(key: string, compute: () => Promise<T>): Promise<T> {
    const done = this.results.get(key) as { result: Promise<T>; facts: Fact[] } | undefined;
    if (done) {
      const replay = () => this.recorder.replay(done.facts);
      return done.result.then(
        (v) => {
          replay();
          return v;
        },
        (e: unknown) => {
          replay();
          throw e;
        },
      );
    }
    const facts: Fact[] = [];
    const result = this.recorder.collecting(facts, compute);
    this.results.set(key, { result, facts });
    return result;
  }

  has(key: string): boolean {
    return this.results.has(key);
  }
}
