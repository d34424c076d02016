// The Drone stand-in's JSON bodies, keys in the order of drone/drone's core structs (core/{build,
// stage,step,repo,user}.go), `omitempty` fields left out when empty.
import type { BuildRec, RepoRec, StageRec, StepRec } from './state';

function renderStep(s: StepRec, stageId: number): object {
  return {
    id: s.id, // core/step.go serialises the parent stage as `step_id` (an upstream typo kept for compatibility).
    step_id: stageId,
    number: s.number,
    name: s.name,
    status: s.status,
    ...(s.error ? { error: s.error } : {}),
    exit_code: s.exitCode,
    ...(s.started ? { started: s.started } : {}),
    ...(s.stopped ? { stopped: s.stopped } : {}),
    version: s.version,
  };
}

function renderStage(s: StageRec, b: BuildRec): object {
  return {
    id: s.id,
    repo_id: b.repoId,
    build_id: b.id,
    number: s.number,
    name: s.name,
    kind: 'pipeline',
    type: 'exec',
    status: s.status,
    ...(s.error ? { error: s.error } : {}),
    errignore: false,
    exit_code: s.exitCode,
    ...(s.machine ? { machine: s.machine } : {}),
    os: 'linux',
    arch: 'amd64',
    started: s.started,
    stopped: s.stopped,
    created: s.created,
    updated: s.updated,
    version: s.version,
    on_success: true,
    on_failure: false,
    ...(s.steps.length ? { steps: s.steps.map((st) => renderStep(st, s.id)) } : {}),
  };
}

export function renderBuild(b: BuildRec, withStages: boolean): object {
  return {
    id: b.id,
    repo_id: b.repoId,
    trigger: b.trigger,
    number: b.number,
    status: b.status,
    ...(b.error ? { error: b.error } : {}),
    event: 'custom',
    action: '',
    link: b.link,
    timestamp: 0,
    message: b.message,
    before: b.sha,
    after: b.sha,
    ref: b.ref,
    source_repo: '',
    source: b.branch,
    target: b.branch,
    author_login: '',
    author_name: '',
    author_email: '',
    author_avatar: '',
    sender: b.sender,
    ...(Object.keys(b.params).length ? { params: b.params } : {}),
    started: b.started,
    finished: b.finished,
    created: b.created,
    updated: b.updated,
    version: b.version,
    ...(withStages && b.stages.length ? { stages: b.stages.map((s) => renderStage(s, b)) } : {}),
  };
}

export function renderRepo(r: RepoRec): object {
  return {
    id: r.id,
    uid: String(r.id),
    user_id: 1,
    namespace: r.namespace,
    name: r.name,
    slug: `${r.namespace}/${r.name}`,
    scm: '',
    git_http_url: '',
    git_ssh_url: '',
    link: '',
    default_branch: 'main',
    private: true,
    visibility: 'private',
    active: true,
    config_path: '.drone.yml',
    trusted: false,
    protected: false,
    ignore_forks: false,
    ignore_pull_requests: false,
    auto_cancel_pull_requests: false,
    auto_cancel_pushes: false,
    timeout: 60,
    counter: r.counter,
    synced: r.created,
    created: r.created,
    updated: r.updated,
    version: r.version,
    permissions: { read: true, write: true, admin: false },
  };
}

export function renderUser(id: number, login: string, created: number): object {
  return {
    id,
    login,
    email: '',
    machine: false,
    admin: false,
    active: true,
    avatar: '',
    syncing: false,
    synced: created,
    created,
    updated: created,
    last_login: created,
  };
}
