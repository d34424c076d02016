// Lab stand-in for Traefik (see lab/standins/traefik for the subset it mirrors): entrypoints that
// take HTTP and TLS on one port (sniffed per connection, as Traefik's TCP router does), the file
// provider's dynamic configuration, certificates chosen by SNI and HTTP routing by Host.
//   traefik/flags.ts          the static configuration (CLI flags)
//   traefik/dynamic.ts        the dynamic configuration's schema;  traefik/file-provider.ts  reading and watching it
//   traefik/rules.ts          router rules;  traefik/tls.ts  certificates and SNI;  traefik/log.ts  logrus lines
//   traefik/runtime.ts        routers, redirections, routing;  traefik/services.ts  load balancer, static
//   traefik/entrypoints.ts    the listeners;  traefik/server.ts  startTraefik
export { FlagError, parseTraefikFlags, type TraefikOptions } from './traefik/flags';
export { formatLogLine } from './traefik/log';
export { parseRule } from './traefik/rules';
export { type RunningTraefik, startTraefik } from './traefik/server';
export { matchDomain } from './traefik/tls';
