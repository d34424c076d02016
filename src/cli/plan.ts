import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AstBuilder, compile, GherkinClassicTokenMatcher, Parser } from '@cucumber/gherkin';
import { IdGenerator } from '@cucumber/messages';
import { loadConfiguration, loadSources, type IRunConfiguration } from '@cucumber/cucumber/api';
import { UsageError } from '../errors';
import { PROJECT_ROOT } from '../paths';

export interface PlannedScenario {
  name: string;
  uri: string;
  tags: string[];
}

/** The scenarios a run will execute, with their tags, known before anything is contacted. */
export async function plannedScenarios(config: IRunConfiguration): Promise<PlannedScenario[]> {
  const sources = await loadSources(config.sources).catch((e: Error) => {
    throw new UsageError(`features or tag expression: ${e.message}`);
  });
  if (sources.errors.length) throw new UsageError(`features: ${sources.errors.map((e) => JSON.stringify(e)).join('; ')}`);
  const tagsByUri = new Map<string, Map<string, string[]>>();
  const tagsOf = (uri: string, name: string): string[] => {
    let byName = tagsByUri.get(uri);
    if (!byName) {
      const doc = new Parser(new AstBuilder(IdGenerator.uuid()), new GherkinClassicTokenMatcher()).parse(readFileSync(join(PROJECT_ROOT, uri), 'utf8'));
      byName = new Map(compile(doc, uri, IdGenerator.uuid()).map((p) => [p.name, p.tags.map((t) => t.name)]));
      tagsByUri.set(uri, byName);
    }
    return byName.get(name) ?? [];
  };
  return sources.plan.map((p) => ({ name: p.name, uri: p.uri, tags: tagsOf(p.uri, p.name) }));
}

/** cucumber-js's configuration (cucumber.js) with the options given on the command line. */
export async function cucumberConfiguration(cucumberArgs: string[]): Promise<IRunConfiguration> {
  // cucumber-js's option parser (commander) exits 1 itself on an option it does not know, after
  // printing it: here that is a usage error, exit 2, like every other bad input.
  const exit = process.exit;
  process.exit = ((code?: number) => {
    throw new UsageError(`cucumber options: not an option of this command or of cucumber-js (commander exited ${code ?? 0}; see --help)`);
  }) as typeof process.exit;
  try {
    const { runConfiguration } = await loadConfiguration({ file: 'cucumber.js', provided: cucumberArgs }, { cwd: PROJECT_ROOT });
    return runConfiguration;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const cause = (e as Error).cause instanceof Error ? `: ${((e as Error).cause as Error).message}` : '';
    throw new UsageError(`cucumber options: ${(e as Error).message}${cause}`);
  } finally {
    process.exit = exit;
  }
}
