import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector, request } from 'undici';

// A request to a public name through the gateway: the name is resolved as the profile says (no
// system DNS), TLS carries the name as SNI and the chain is verified against the CA bundle.

export interface PublicAnswer {
  url: string;
  /** The gateway as the profile names it, and the address that name resolved to when asked. */
  address: string;
  resolved?: string;
  port: number;
  status?: number;
  bodySha256?: string;
  bodyBytes?: number;
  fingerprint256?: string;
  error?: string;
}

export async function getThroughGateway(opts: { url: string; address: string; port: number; ca?: string; timeoutMs: number }): Promise<PublicAnswer> {
  const u = new URL(opts.url);
  let fingerprint256: string | undefined;
  const answer: PublicAnswer = { url: opts.url, address: opts.address, port: opts.port };
  try {
    answer.resolved = isIP(opts.address) ? opts.address : (await lookup(opts.address)).address;
  } catch (e) {
    answer.error = `the gateway ${opts.address} does not resolve: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    return answer;
  }
  const connect = buildConnector({ ca: opts.ca, rejectUnauthorized: true, timeout: opts.timeoutMs });
  const agent = new Agent({
    connect: (o, cb) =>
      connect({ ...o, hostname: answer.resolved!, port: String(opts.port), servername: u.hostname }, (err, socket) => {
        if (socket && 'getPeerCertificate' in socket) fingerprint256 = (socket as TLSSocket).getPeerCertificate().fingerprint256;
        cb(err as Error, socket as never);
      }),
  });
  try {
    const r = await request(opts.url, { dispatcher: agent, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
    const body = Buffer.from(await r.body.arrayBuffer());
    Object.assign(answer, { status: r.statusCode, bodySha256: createHash('sha256').update(body).digest('hex'), bodyBytes: body.length, fingerprint256 });
  } catch (e) {
    const err = e as Error & { code?: string; cause?: { code?: string; message?: string } };
    answer.error = `${err.code ?? err.cause?.code ?? ''} ${err.cause?.message ?? err.message}`.trim();
    answer.fingerprint256 = fingerprint256;
  } finally {
    await agent.close().catch(() => undefined);
  }
  return answer;
}
