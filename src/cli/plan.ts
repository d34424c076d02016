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

/** The tag expression that selects a gate's scenarios: every scenario of any of its criteria. */
export function gateTagExpression(criteria: readonly string[]): string {
  return criteria.map((c) => `@${c}`).join(' or ');
}

const keyOf = (s: Pick<PlannedScenario, 'uri' | 'name'>) => `${s.uri}\u0000${s.name}`;

/** What `planned` leaves out of `full`, and what it adds, each scenario counted (uri and name). */
export function selectionGaps(full: readonly PlannedScenario[], planned: readonly PlannedScenario[]): { missing: PlannedScenario[]; extra: PlannedScenario[] } {
  const take = (from: readonly PlannedScenario[], against: readonly PlannedScenario[]) => {
    const left = new Map<string, number>();
    for (const s of against) left.set(keyOf(s), (left.get(keyOf(s)) ?? 0) + 1);
    return from.filter((s) => {
      const n = left.get(keyOf(s)) ?? 0;
      if (n > 0) left.set(keyOf(s), n - 1);
      return n === 0;
    });
  };
  return { missing: take(full, planned), extra: take(planned, full) };
}

export interface GateSelection {
  /** The run's configuration: the options given, and the gate's tags. */
  config: IRunConfiguration;
  planned: PlannedScenario[];
  /** Every scenario of the gate: the default configuration with only the gate's tags. */
  full: PlannedScenario[];
  /** Per criterion, its scenarios in `full` (what the verdict needs a result for). */
  expected: Record<string, { uri: string; name: string }[]>;
}

/**
 * A gate's selection, refused (a usage error) when the options given make it anything but
 * every scenario of the gate's criteria: a shard, feature paths or lines, a name, a tag, another
 * configuration, other support code. A gate run that passes on a subset would claim the whole.
 */
export async function gateSelection(gate: string, criteria: readonly string[], cucumberArgs: readonly string[]): Promise<GateSelection> {
  const tags = gateTagExpression(criteria);
  const head = `--gate ${gate} selects every scenario of ${criteria.join(', ')}`;
  const narrowing = cucumberArgs.filter((a) => /^--(tags|name)(=|$)|^-t/.test(a));
  if (narrowing.length) throw new UsageError(`${head}; it cannot be combined with ${narrowing.join(' ')}`);
  const config = await cucumberConfiguration([...cucumberArgs, '--tags', tags]);
  if (config.sources.shard) throw new UsageError(`${head}; it cannot be combined with --shard ${config.sources.shard} (a shard runs part of it)`);
  const reference = await cucumberConfiguration(['--tags', tags]);
  const supportOf = (c: IRunConfiguration) => JSON.stringify({ require: c.support.requirePaths, import: c.support.importPaths, loaders: c.support.loaders });
  if (supportOf(config) !== supportOf(reference))
    throw new UsageError(`${head}, with the harness's own step definitions; the options given (${cucumberArgs.join(' ')}) load other support code`);
  const [planned, full] = await Promise.all([plannedScenarios(config), plannedScenarios(reference)]);
  const { missing, extra } = selectionGaps(full, planned);
  const shown = (l: PlannedScenario[]) =>
    l
      .slice(0, 10)
      .map((s) => `    - ${s.uri}: ${s.name}`)
      .join('\n') + (l.length > 10 ? `\n    - … and ${l.length - 10} more` : '');
  const problems = [
    ...(missing.length ? [`leave out ${missing.length} of its ${full.length} scenario(s):\n${shown(missing)}`] : []),
    ...(extra.length ? [`add ${extra.length} scenario(s) that are not the gate's:\n${shown(extra)}`] : []),
  ];
  if (problems.length) throw new UsageError(`${head}; the options given (${cucumberArgs.join(' ')}) ${problems.join('\n  and ')}`);
  const expected = Object.fromEntries(criteria.map((c) => [c, full.filter((s) => s.tags.includes(`@${c}`)).map(({ uri, name }) => ({ uri, name }))]));
  return { config, planned, full, expected };
}
