// Lab stand-in for the Drone 2.x server with one exec-style runner (see lab/standins/drone-server
// for the subset it mirrors). Shapes and status codes follow drone/drone: handler/api/api.go,
// handler/api/repos/builds/{create,list,find}.go, handler/api/repos/builds/logs/find.go,
// handler/api/acl, session/session.go, core/{build,stage,step,repo,user}.go, trigger/trigger.go.
// The API only: no web UI (a build's page is a URL the harness compares, never fetches).
//   drone/state.ts   the JSON database: users, repos, builds, logs; reaping at start
//   drone/runner.ts  the build queue, the pipeline's ::step/::exit lines, its environment
//   drone/api.ts     the routes;  drone/render.ts  the JSON bodies;  drone/scm.ts  links, tips
export { type DroneOptions, type RunningDrone, startDrone } from './drone/server';
export type { LogLine } from './drone/state';
