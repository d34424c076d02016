// The Traefik stand-in's dynamic configuration, the subset: its schema, checked (and its keys
// matched case-insensitively, as in Traefik) when a file is read.

type Schema = 'string' | 'number' | Schema[] | { [key: string]: Schema };
const CERT: Schema = { certFile: 'string', keyFile: 'string', stores: ['string'] };
const DYNAMIC: Schema = {
  tls: { certificates: [CERT], stores: { '*': { defaultCertificate: { certFile: 'string', keyFile: 'string' } } } },
  http: {
    routers: {
      '*': { rule: 'string', entryPoints: ['string'], service: 'string', priority: 'number', tls: { options: 'string' } },
    },
    services: {
      '*': {
        // Stand-in extension: a fixed response instead of a load balancer.
        static: { status: 'number', contentType: 'string', body: 'string' },
        loadBalancer: { servers: [{ url: 'string' }] },
      },
    },
  },
};

export interface CertFiles {
  certFile: string;
  keyFile: string;
}
export interface RouterConf {
  rule?: string;
  entryPoints?: string[];
  service?: string;
  priority?: number;
  tls?: object;
}
export interface ServiceConf {
  static?: { status?: number; contentType?: string; body?: string };
  loadBalancer?: { servers?: { url: string }[] };
}
export interface DynamicConf {
  tls?: { certificates?: CertFiles[]; stores?: Record<string, { defaultCertificate?: CertFiles }> };
  http?: { routers?: Record<string, RouterConf>; services?: Record<string, ServiceConf> };
}

function normalize(v: unknown, s: Schema, at: string): unknown {
  if (typeof s === 'string') {
    if (s === 'number' && typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
    if (s === 'string' && (typeof v === 'number' || typeof v === 'boolean')) return String(v);
    // biome-ignore lint/suspicious/useValidTypeof: s is a typeof name from the schema
    if (typeof v !== s) throw new Error(`${at}: expected a ${s}`);
    return v;
  }
  if (Array.isArray(s)) {
    if (!Array.isArray(v)) throw new Error(`${at}: expected a list`);
    return v.map((e, i) => normalize(e, s[0]!, `${at}[${i}]`));
  }
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${at}: expected a mapping`);
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const key = s['*'] ? k : Object.keys(s).find((x) => x.toLowerCase() === k.toLowerCase());
    if (key === undefined) throw new Error(`field not found, node: ${k} (lab stand-in: not mirrored)`);
    out[key] = normalize(val, s['*'] ?? s[key]!, at ? `${at}.${k}` : k);
  }
  return out;
}

/** A parsed YAML document as a DynamicConf; throws on a key or type outside the subset. */
export function toDynamicConf(doc: unknown): DynamicConf {
  return normalize(doc ?? {}, DYNAMIC, '') as DynamicConf;
}
