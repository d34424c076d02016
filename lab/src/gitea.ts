// Lab stand-in for Gitea's REST API v1 (the subset listed in lab/standins/gitea), mirroring Gitea 1.21/1.22:
// routers/api/v1/api.go (routes, middleware order), services/context/api.go (errors, Link/X-Total-Count),
// services/convert/*.go and modules/structs/*.go (JSON shapes), services/auth/oauth2.go + basic.go (tokens).
// The parts live in ./gitea/: state and its file, the seed, rendering, HTTP helpers, the router, routes/.
export { pushToPull } from './gitea/store';
export { type GiteaSeed, type SeedOrg, type SeedPull, type SeedRepo, seedGitea } from './gitea/seed';
export { type GiteaOptions, type RunningGitea, startGitea } from './gitea/server';
export { tokenHash } from './gitea/state';
