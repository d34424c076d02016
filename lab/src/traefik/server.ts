// The Traefik stand-in's server: entrypoints, the file provider, certificates by SNI, routing.
import { EntryPoints } from './entrypoints';
import { FileProvider } from './file-provider';
import { type TraefikOptions, parseAddress } from './flags';
import { createLogger } from './log';
import { type Runtime, compileRuntime, dispatch, internalRedirections } from './runtime';
import { certificateFor, generateDefaultCertificate, loadCertificate } from './tls';

export interface RunningTraefik {
  /** Bound address of each entrypoint. */
  addresses: Record<string, { address: string; port: number }>;
  /** Re-read the dynamic file now, as the file watcher does. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export async function startTraefik(opts: TraefikOptions): Promise<RunningTraefik> {
  const log = createLogger(opts.logLevel, opts.log ?? ((line: string) => process.stdout.write(`${line}\n`)));
  log('info', "Traefik version lab-standin built on I don't know time");

  const eps = Object.fromEntries(Object.entries(opts.entrypoints).map(([n, e]) => [n, typeof e === 'string' ? { address: e } : e] as const));
  const addrs = Object.fromEntries(Object.entries(eps).map(([n, e]) => [n, { address: e.address, ...parseAddress(n, e.address) }] as const));
  const generated = await generateDefaultCertificate();
  const fallback = loadCertificate(generated.cert, generated.key);

  let rt: Runtime = { certs: [], routers: [] };
  const defaultCtx = () => (rt.defaultCert ?? fallback).ctx;
  const internal = internalRedirections(eps, log);

  const entry = new EntryPoints(log);
  await entry.open(
    addrs,
    {
      ...generated,
      ALPNProtocols: ['http/1.1'],
      SNICallback: (servername, cb) => {
        const name = servername.trim().toLowerCase();
        const ctx = certificateFor(rt.certs, name);
        if (!ctx) log('debug', `Serving default certificate for request: "${name}"`);
        cb(null, ctx ?? defaultCtx());
      },
    },
    (entryPoint, secure) => (req, res) =>
      dispatch(secure ? rt.routers : [...internal, ...rt.routers], req, res, { entryPoint, secure, ports: entry.ports }, log),
  );

  const provider =
    opts.dynamicFile || opts.dynamicDirectory
      ? new FileProvider({ file: opts.dynamicFile, directory: opts.dynamicDirectory, watch: opts.watch }, log, (loaded) => {
          const before = defaultCtx();
          rt = compileRuntime(loaded, Object.keys(eps), log);
          // Connections without SNI get the server's own context, so that one is swapped too.
          if (defaultCtx() !== before) entry.setDefaultCertificate(rt.defaultCert ? { cert: loaded.def!.cert!, key: loaded.def!.key! } : generated);
        })
      : undefined;
  await provider?.start();

  return {
    addresses: entry.addresses,
    reload: async () => provider?.reload(false).catch(() => undefined),
    close: async () => {
      provider?.close();
      await entry.close();
    },
  };
}
