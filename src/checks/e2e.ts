import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { Docker } from '../drivers/docker';
import { lastLines } from '../drivers/host';
import { HostBrokenError } from '../errors';
import { claimThat } from '../claim';
import { buildPage, Drone, DRONE_DONE, type DroneBuild } from '../drivers/drone';
import { Gitea, type GiteaComment, type GiteaStatus } from '../drivers/forge';
import { JsonClient } from '../drivers/http';
import { GiveUp, poll, type Waited } from '../wait';
import { getThroughGateway, type PublicAnswer } from '../drivers/public';
import { readSecretRef } from '../profile/load';
import type { SecretRef } from '../profile/schema';
import type { RunContext } from '../run/context';

// The E2E: a real `!testme`, followed stage by stage: picked up (a Drone build), pending
// reported, deployed, reachable through the public gateway, built, undeployed, reported.

export type { Waited };

function e2eOf(run: RunContext) {
  const e = run.profile.e2e;
  if (!e) throw new Error(`profile ${run.profile.name} has no e2e section`);
  return e;
}

function client(run: RunContext, name: string, url: string, scheme: 'token' | 'Bearer', ref: SecretRef, field: string): JsonClient {
  const token = readSecretRef(ref, field).trim();
  run.recorder.redactor.add(`${name}-token`, token);
  return new JsonClient(name, url, `${scheme} ${token}`, run.recorder, run.profile.timeouts.connect);
}

export function gitea(run: RunContext, as: 'bot' | 'non-member' = 'bot'): Gitea {
  return run.single(`gitea ${as}`, () => makeGitea(run, as));
}

function makeGitea(run: RunContext, as: 'bot' | 'non-member'): Gitea {
  const e = e2eOf(run).gitea;
  const ref = as === 'bot' ? e.token : e.nonMemberToken;
  if (!ref) throw new Error('the profile names no e2e.gitea.nonMemberToken');
  const [owner, repo] = e.repo.split('/') as [string, string];
  const field = as === 'bot' ? 'e2e.gitea.token' : 'e2e.gitea.nonMemberToken';
  return new Gitea(client(run, as === 'bot' ? 'gitea' : 'gitea-non-member', e.url, 'token', ref, field), owner, repo);
}

export function drone(run: RunContext): Drone {
  return run.single('drone', () => makeDrone(run));
}

function makeDrone(run: RunContext): Drone {
  const e = e2eOf(run).drone;
  const [owner, repo] = e.repo.split('/') as [string, string];
  return new Drone(client(run, 'drone', e.url, 'Bearer', e.token, 'e2e.drone.token'), owner, repo);
}

/** An E2E stage: polled through the one wait primitive, said on the console as "e2e: …", recorded as wait.<stage>. */
export function waitFor<T>(
  run: RunContext,
  stage: string,
  deadlineMs: number,
  probe: () => Promise<T | undefined | GiveUp>,
): Promise<{ value?: T; waited: Waited }> {
  return poll({ what: stage, deadlineMs, pauseMs: 250, maxPauseMs: 2000, recorder: run.recorder, key: stage, prefix: 'e2e' }, probe);
}

const isFor = (b: DroneBuild, pr: number, recipe: string) => b.params?.PR === String(pr) && b.params?.RECIPE === recipe;

export interface Posted {
  comment: GiteaComment;
  head: string;
  /** The newest Drone build before the comment: anything newer is new. */
  lastBuild: number;
}

/** Posts a comment on the profile's PR, once per distinct (who, body) per run. */
export function postComment(run: RunContext, as: 'bot' | 'non-member', body: string): Promise<Posted> {
  return run.once(`comment ${as} ${body}`, async () => {
    const e = e2eOf(run);
    const forge = gitea(run, as);
    const head = (await gitea(run).pull(e.gitea.pr)).head.sha;
    const lastBuild = Math.max(0, ...(await drone(run).builds()).map((b) => b.number));
    const comment = await forge.postComment(e.gitea.pr, body);
    run.recorder.fact('e2e.comment', { as, body, id: comment.id, url: comment.html_url, at: comment.created_at, head, lastBuildBefore: lastBuild });
    return { comment, head, lastBuild };
  });
}

export function testme(run: RunContext): Promise<Posted> {
  return postComment(run, 'bot', '!testme');
}

function stageFailed(stage: string, detail: { expected: string; seen: string; host: string; evidence?: string[] }): never {
  claimThat(false, { claim: `stage "${stage}" did not happen`, ...detail });
}

/** picked up: a new Drone build for this PR and recipe. */
export function pickedUp(run: RunContext): Promise<DroneBuild> {
  return run.once('e2e picked up', async () => {
    const e = e2eOf(run);
    const posted = await testme(run);
    const recipe = e.gitea.repo.split('/')[1]!;
    const d = drone(run);
    const { value, waited } = await waitFor(
      run,
      'picked up',
      e.deadlines.pickup,
      async () => (await d.builds()).filter((b) => b.number > posted.lastBuild && isFor(b, e.gitea.pr, recipe)).sort((a, b) => a.number - b.number)[0],
    );
    if (!value) {
      stageFailed('picked up', {
        expected: `a new Drone build of ${e.drone.repo} with PR=${e.gitea.pr} RECIPE=${recipe} within ${waited.deadlineMs / 1000}s of the !testme comment`,
        seen: `none after ${Math.round(waited.waitedMs / 1000)}s (newest build before: #${posted.lastBuild})`,
        host: 'drone',
        evidence: [d.api.lastEvidence],
      });
    }
    run.recorder.fact('e2e.build', { number: value.number, page: pageOf(run, value), link: value.link, params: value.params, event: value.event });
    claimThat(value.params?.REF === posted.head, {
      claim: 'the build tests the PR head',
      expected: `REF=${posted.head}`,
      seen: `REF=${value.params?.REF}`,
      host: 'drone',
    });
    return value;
  });
}

/** The build's page as Drone makes it from its server URL: what the bridge must link, in the status and the comment. */
function pageOf(run: RunContext, build: DroneBuild): string {
  const d = e2eOf(run).drone;
  return buildPage(d.serverUrl ?? d.url, d.repo, build.number);
}

const e2eContext = (run: RunContext): string => e2eOf(run).context;

/** The `cc-ci/testme` statuses on the PR head. */
async function statuses(run: RunContext, head: string): Promise<GiteaStatus[]> {
  return (await gitea(run).statuses(head)).filter((s) => s.context === e2eOf(run).context);
}

/** The status context a step names must be the one the profile's bridge reports under. */
function sameContext(run: RunContext, context: string): void {
  const e = e2eOf(run);
  if (context !== e.context)
    throw new Error(
      `the scenario reads the commit status ${JSON.stringify(context)}, but the profile's e2e.context is ${JSON.stringify(e.context)}: the feature and the profile disagree`,
    );
}

export function pendingReported(run: RunContext, context = e2eContext(run)): Promise<GiteaStatus> {
  sameContext(run, context);
  return run.once('e2e pending', async () => {
    const e = e2eOf(run);
    const build = await pickedUp(run);
    const { head } = await testme(run);
    const page = pageOf(run, build);
    const { value, waited } = await waitFor(run, 'pending reported', e.deadlines.pending, async () =>
      (await statuses(run, head)).find((s) => s.status === 'pending' && s.target_url === page),
    );
    if (!value) {
      const seen = (await statuses(run, head)).map((s) => `${s.status} ${s.target_url}`);
      stageFailed('reported (pending)', {
        expected: `status ${e.context} = pending on ${head.slice(0, 12)} with target_url ${page} (the build's page), within ${waited.deadlineMs / 1000}s`,
        seen: seen.length ? seen.join('; ') : 'no such status',
        host: 'gitea',
        evidence: [gitea(run).api.lastEvidence].filter(Boolean),
      });
    }
    run.recorder.fact('e2e.pending', { state: value.status, target_url: value.target_url, at: value.created_at });
    return value;
  });
}

/** deployed: the build's log names the per-run URL. */
export function deployedUrl(run: RunContext): Promise<string> {
  return run.once('e2e deployed', async () => {
    const e = e2eOf(run);
    const build = await pickedUp(run);
    const d = drone(run);
    const pattern = new RegExp(`https://([a-z0-9]{1,4}-[0-9a-f]{6})\\.${run.profile.domain.replace(/\./g, '\\.')}\\b`);
    const { value, waited } = await waitFor(run, 'deployed', e.deadlines.deployed, async () => {
      const b = await d.build(build.number);
      const url = (await d.allLogs(b)).map((l) => pattern.exec(l)?.[0]).find(Boolean);
      if (url) return url;
      return DRONE_DONE.has(b.status) ? new GiveUp(`build #${b.number} ended (${b.status})`) : undefined;
    });
    if (!value) {
      stageFailed('deployed', {
        expected: `the build's log names https://<recipe[:4]>-<6 hex>.${run.profile.domain} within ${waited.deadlineMs / 1000}s`,
        seen: waited.gaveUp ? `the build ended without deploying (${waited.gaveUp})` : `nothing after ${Math.round(waited.waitedMs / 1000)}s`,
        host: 'drone',
        evidence: [d.api.lastEvidence],
      });
    }
    run.recorder.fact('e2e.url', value);
    return value;
  });
}

function caBundle(run: RunContext): string | undefined {
  const ca = run.profile.tls.caBundle;
  return ca === 'system' ? undefined : readFileSync(ca.file, 'utf8');
}

export async function askGateway(run: RunContext, url: string): Promise<PublicAnswer & { evidence: string }> {
  const g = e2eOf(run).gateway;
  const t0 = Date.now();
  const a = await getThroughGateway({ url, address: g.address, port: g.port, ca: caBundle(run), timeoutMs: run.profile.timeouts.connect });
  const evidence = run.recorder.probe(
    'runner',
    ['GET', url, `--resolve=${new URL(url).hostname}:${g.port}:${a.resolved ?? g.address}`],
    Date.now() - t0,
    JSON.stringify(a, null, 2),
    a.error,
  );
  return { ...a, evidence };
}

/**
 * The gateway's name resolved where the profile pins it: otherwise the answer came from elsewhere.
 * A pinned gateway whose resolved address was not seen is not taken on trust.
 */
export function gatewayElsewhere(pins: string[] | undefined, a: Pick<PublicAnswer, 'address' | 'resolved'>): string | undefined {
  if (!pins?.length) return undefined;
  if (!a.resolved) return `the address ${a.address} resolved to was not seen, so the pin (${pins.join(', ')}) cannot be checked`;
  if (pins.includes(a.resolved)) return undefined;
  return `${a.address} resolved to ${a.resolved}, not to the pinned gateway (${pins.join(', ')})`;
}

type StackServices = Awaited<ReturnType<Docker['stackServices']>>;
type Reached = PublicAnswer & { evidence: string; services: StackServices; servicesRead: 'with the answer' | 'before the answer' };

/**
 * reachable: the app answers 200 on its subdomain, through the public gateway. Its services are
 * read at the same moment as each answer (the two requests overlap): a pipeline that fails fast
 * undeploys the app soon after it answers, and a later look would find nothing. If that read
 * came back after the undeploy, the last read that listed the app (while it was deploying) stands.
 * A build that ends before the app ever answered ends the wait.
 */
export function reachable(run: RunContext): Promise<Reached> {
  return run.once('e2e reachable', async () => {
    const e = e2eOf(run);
    const build = await pickedUp(run);
    const url = await deployedUrl(run);
    const app = new URL(url).hostname.split('.')[0]!;
    const live = new Docker(run.pool.role('live'));
    const d = drone(run);
    const lists = (s: StackServices) => s.result.ok && s.services.some((x) => x.name.startsWith(`${app}_`));
    let last: (PublicAnswer & { evidence: string }) | undefined;
    let listed: StackServices | undefined;
    const { value, waited } = await waitFor(run, 'reachable', e.deadlines.deployed, async () => {
      const [answer, services, b] = await Promise.all([askGateway(run, url), live.stackServices(app), d.build(build.number)]);
      last = answer;
      if (answer.status === 200) {
        if (lists(services) || !listed) return { ...answer, services, servicesRead: 'with the answer' as const };
        return { ...answer, services: listed, servicesRead: 'before the answer' as const };
      }
      if (lists(services)) listed = services;
      return DRONE_DONE.has(b.status) ? new GiveUp(`build #${b.number} ended (${b.status}) before the app answered`) : undefined;
    });
    if (!value) {
      stageFailed('reachable', {
        expected: `200 from ${url} through the gateway ${e.gateway.address}:${e.gateway.port}, TLS verified, within ${waited.deadlineMs / 1000}s`,
        seen: `${last?.status ? `HTTP ${last.status}` : (last?.error ?? 'no answer')}${waited.gaveUp ? `: ${waited.gaveUp}` : ''}`,
        host: 'gateway',
        evidence: last ? [last.evidence, ...(waited.gaveUp ? [d.api.lastEvidence] : [])] : [],
      });
    }
    const { services: _services, ...answer } = value;
    run.recorder.fact('e2e.publicAnswer', answer);
    const elsewhere = gatewayElsewhere(e.gateway.expect, value);
    if (elsewhere)
      stageFailed('reachable', {
        expected: `${url} answered by the gateway at ${e.gateway.expect!.join(' or ')}`,
        seen: elsewhere,
        host: 'gateway',
        evidence: last ? [last.evidence] : [],
      });
    return value;
  });
}

/** Image references as docker prints them: no tag means :latest, a digest is dropped. */
export function imageRef(image: string): string {
  const name = image.split('@')[0]!;
  return /:[^/]+$/.test(name) ? name : `${name}:latest`;
}

/** The images a compose file's services name. */
export function composeImages(text: string): Record<string, string> {
  const doc = YAML.parse(text) as { services?: Record<string, { image?: string }> } | null;
  return Object.fromEntries(Object.entries(doc?.services ?? {}).map(([name, svc]) => [name, svc?.image ?? '']));
}

/**
 * While deployed, the app is the PR head: its stack on the live host runs the images the head's
 * compose file names (read through the forge API at the head commit), and where the recipe serves
 * a file, the public answer is that file's bytes at the head.
 */
export function runsPrHead(run: RunContext): Promise<void> {
  return run.once('e2e runs the head', async () => {
    const e = e2eOf(run);
    const url = await deployedUrl(run);
    const answer = await reachable(run);
    const { head } = await testme(run);
    const app = new URL(url).hostname.split('.')[0]!;
    const forge = gitea(run);
    const compose = await forge.rawFile(e.compose, head);
    const want = composeImages(compose.text);
    const live = run.pool.role('live');
    const deployed = answer.services;
    if (!deployed.result.ok) {
      throw new HostBrokenError({
        claim: `could not list the services of ${app} on ${live.name}`,
        expected: 'docker stack services to answer',
        seen: `exit ${deployed.result.exitCode}: ${lastLines(deployed.result.stderr, 2)}`,
        host: live.name,
        evidence: [deployed.result.evidence],
      });
    }
    const running = Object.fromEntries(
      deployed.services.map((s: { name: string; image: string }) => [s.name.startsWith(`${app}_`) ? s.name.slice(app.length + 1) : s.name, s.image]),
    );
    const differ = Object.entries(want)
      .filter(([svc, image]) => imageRef(running[svc] ?? '(not running)') !== imageRef(image))
      .map(([svc, image]) => `${svc}: the head's ${e.compose} says ${image}, ${app}_${svc} runs ${running[svc] ?? 'nothing'}`);
    let content: { path: string; headSha256: string; servedSha256?: string } | undefined;
    const evidence = [compose.evidence, deployed.result.evidence, answer.evidence];
    if (e.content) {
      const file = await forge.rawFile(e.content, head);
      evidence.push(file.evidence);
      content = { path: e.content, headSha256: createHash('sha256').update(file.text).digest('hex'), servedSha256: answer.bodySha256 };
      if (content.headSha256 !== content.servedSha256)
        differ.push(
          `content: the head's ${e.content} has sha256 ${content.headSha256.slice(0, 16)}…, ${url} answered with ${content.servedSha256?.slice(0, 16) ?? 'nothing'}…`,
        );
    }
    run.recorder.fact('e2e.deployedHead', { head, compose: e.compose, images: want, running, servicesRead: answer.servicesRead, content });
    claimThat(Object.keys(want).length > 0 && differ.length === 0, {
      claim: `the deployed app is the PR head ${head.slice(0, 12)}`,
      expected: `${app}'s services run ${
        Object.entries(want)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ') || '(the head compose file names no service)'
      }${content ? `, and ${url} serves the head's ${content.path}` : ''}`,
      seen: differ.join('; ') || 'the head compose file names no service',
      host: `${live.name} and gitea`,
      evidence,
    });
  });
}

/** built: the build finished, successfully. */
export function finished(run: RunContext): Promise<DroneBuild> {
  return run.once('e2e finished', async () => {
    const e = e2eOf(run);
    const build = await pickedUp(run);
    const d = drone(run);
    const { value, waited } = await waitFor(run, 'built', e.deadlines.finished, async () => {
      const b = await d.build(build.number);
      return DRONE_DONE.has(b.status) ? b : undefined;
    });
    run.recorder.fact('e2e.finished', value ? { number: value.number, status: value.status, seconds: value.finished - value.started } : null);
    if (!value || value.status !== 'success') {
      const failedStep = value?.stages?.flatMap((s) => s.steps ?? []).find((s) => s.status !== 'success');
      stageFailed('built', {
        expected: `build #${build.number} succeeds within ${waited.deadlineMs / 1000}s`,
        seen: value
          ? `${value.status}${failedStep ? ` (step ${failedStep.name}: ${failedStep.status})` : ''}`
          : `still running after ${Math.round(waited.waitedMs / 1000)}s`,
        host: 'drone',
        evidence: [d.api.lastEvidence],
      });
    }
    return value;
  });
}

/** undeployed: the subdomain no longer answers and nothing of the app is left on the live host. */
export function undeployed(run: RunContext): Promise<void> {
  return run.once('e2e undeployed', async () => {
    const e = e2eOf(run);
    await finished(run).catch(() => undefined);
    const url = await deployedUrl(run);
    const app = new URL(url).hostname.split('.')[0]!;
    const live = run.pool.role('live');
    let leftovers: string[] = [];
    let last: (PublicAnswer & { evidence: string }) | undefined;
    let evidence = '';
    const { value, waited } = await waitFor(run, 'undeployed', e.deadlines.undeployed, async () => {
      last = await askGateway(run, url);
      const found = await new Docker(live).leftoversOf(app);
      evidence = found.evidence;
      leftovers = found.leftovers;
      return last.status !== 200 && leftovers.length === 0 ? true : undefined;
    });
    run.recorder.fact('e2e.afterwards', { url, answer: last?.status ?? last?.error, leftovers });
    if (!value) {
      stageFailed('undeployed', {
        expected: `${url} no longer answers 200, and no stack, service, volume or secret of ${app} on ${live.name}, within ${waited.deadlineMs / 1000}s`,
        seen: [last?.status === 200 ? `${url} still answers 200` : `${url}: ${last?.status ?? last?.error}`, ...leftovers].join('; '),
        host: `gateway and ${live.name}`,
        evidence: [evidence, ...(last ? [last.evidence] : [])],
      });
    }
  });
}

/**
 * Whether a comment links a build page: the page's URL, not followed by more of a path (the page
 * of build 1 is not in a link to build 12, nor in one to build 1's step page /1/2/3); what may
 * follow is the end, a space, a closing ) ] > or quote, punctuation, or a ?query or #fragment.
 */
export function linksTo(body: string, page: string): boolean {
  const url = page.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`${url}(?![A-Za-z0-9/_~%-])`).test(body);
}

/** reported: the final status is success, and a PR comment links the build. */
export function reported(run: RunContext, context = e2eContext(run)): Promise<{ status: GiteaStatus; comment: GiteaComment }> {
  sameContext(run, context);
  return run.once('e2e reported', async () => {
    const e = e2eOf(run);
    const build = await pickedUp(run);
    const posted = await testme(run);
    const forge = gitea(run);
    const page = pageOf(run, build);
    let latest: GiteaStatus | undefined;
    let comment: GiteaComment | undefined;
    const { value, waited } = await waitFor(run, 'reported', e.deadlines.reported, async () => {
      latest = (await statuses(run, posted.head))[0];
      comment = (await forge.comments(e.gitea.pr, posted.comment.created_at)).find((c) => c.id !== posted.comment.id && linksTo(c.body, page));
      return latest && latest.status !== 'pending' && comment ? true : undefined;
    });
    run.recorder.fact('e2e.reported', { status: latest?.status, target_url: latest?.target_url, comment: comment?.html_url, commentBody: comment?.body });
    if (!value || latest?.status !== 'success' || latest.target_url !== page) {
      stageFailed('reported', {
        expected: `status ${e.context} = success with ${page} (the build's page), and a PR comment linking it, within ${waited.deadlineMs / 1000}s`,
        seen: `status ${latest ? `${latest.status} ${latest.target_url}` : 'none'}; ${comment ? `comment ${comment.html_url}` : 'no comment linking the build'}`,
        host: 'gitea',
        evidence: [forge.api.lastEvidence],
      });
    }
    return { status: latest!, comment: comment! };
  });
}

const ALIVE = 'e2e bridge alive';
const OUTSIDER = 'e2e outsider';

/** Silence proves nothing unless the bridge answers a member's !testme in this same run. */
export function bridgeAlive(run: RunContext): Promise<DroneBuild> {
  return run.once(ALIVE, async () => {
    const build = await pickedUp(run).catch((err: Error & { detail?: { evidence?: string[] } }) => {
      throw new HostBrokenError({
        claim: 'the bridge must be seen to work before a silence means anything',
        expected: "the bot's !testme of this run picked up",
        seen: err.message.split('\n').slice(0, 3).join(' '),
        host: 'drone',
        evidence: err.detail?.evidence ?? [drone(run).api.lastEvidence],
      });
    });
    run.recorder.fact('e2e.bridgeAlive', { build: build.number, link: build.link });
    return build;
  });
}

/** The non-member is not a member of the org, as the forge says (asked by the bot, a member). */
export function claimOutsider(run: RunContext): Promise<void> {
  return run.once(OUTSIDER, () => outsider(run));
}

async function outsider(run: RunContext): Promise<void> {
  const e = e2eOf(run);
  const org = e.gitea.org ?? e.gitea.repo.split('/')[0]!;
  const outsider = await gitea(run, 'non-member').whoami();
  const bot = gitea(run);
  const m = await bot.isOrgMember(org, outsider);
  run.recorder.fact('e2e.outsider', { login: outsider, org, status: m.status, member: m.member });
  if (m.status !== 204 && m.status !== 404) {
    throw new HostBrokenError({
      claim: `could not tell whether ${outsider} is a member of ${org}`,
      expected: 'GET /orgs/{org}/members/{user} answers 204 or 404 to a member',
      seen: `HTTP ${m.status}`,
      host: 'gitea',
      evidence: [m.evidence],
    });
  }
  claimThat(!m.member, {
    claim: `the non-member token's user (${outsider}) is not a member of ${org}`,
    expected: `GET /orgs/${org}/members/${outsider} answers 404`,
    seen: `${m.status}: ${outsider} is a member`,
    host: 'gitea',
    evidence: [m.evidence],
  });
}

/** A comment that must start nothing: no new build for the PR within the quiet window. */
export async function startsNothing(run: RunContext, as: 'bot' | 'non-member', body: string): Promise<void> {
  const e = e2eOf(run);
  if (!run.started(ALIVE) || (as === 'non-member' && !run.started(OUTSIDER))) {
    throw new HostBrokenError({
      claim: 'a silence means something only after the bridge was seen to work (and the outsider shown to be one)',
      expected: "the scenario's Given steps: a member's !testme picked up in this run, and the forge saying the outsider is not a member",
      seen: 'they did not run before the comment',
      host: 'runner',
    });
  }
  await bridgeAlive(run);
  const posted = await postComment(run, as, body);
  const recipe = e.gitea.repo.split('/')[1]!;
  const d = drone(run);
  const who = as === 'bot' ? 'the bot' : 'a non-member';
  run.recorder.progress(`e2e: watching Drone for ${e.quietWindow / 1000}s: ${who}'s ${JSON.stringify(body)} must start no build`);
  // The quiet window is a wait for something that must not happen: a build, polled every 500 ms.
  const { value: started, waited } = await poll(
    { what: `no build for ${JSON.stringify(body)}`, deadlineMs: e.quietWindow, pauseMs: 500, maxPauseMs: 500 },
    async () => (await d.builds()).find((b) => b.number > posted.lastBuild && isFor(b, e.gitea.pr, recipe)),
  );
  const watchedMs = waited.waitedMs;
  run.recorder.fact('e2e.quiet', {
    as,
    body,
    watchedSeconds: Math.round(watchedMs / 1000),
    windowSeconds: e.quietWindow / 1000,
    build: started?.number ?? null,
  });
  claimThat(!started, {
    claim: `${who}'s ${JSON.stringify(body)} starts no build`,
    expected: `no new Drone build for PR ${e.gitea.pr} within ${e.quietWindow / 1000}s`,
    seen: `build #${started?.number} (${started?.link}) started after ${Math.round(watchedMs / 1000)}s`,
    host: 'drone',
    evidence: [d.api.lastEvidence],
  });
}
