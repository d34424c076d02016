import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Drone } from '../../src/drivers/drone';
import { Gitea } from '../../src/drivers/forge';
import { HttpError, JsonClient } from '../../src/drivers/http';
import { getThroughGateway } from '../../src/drivers/public';
import { Recorder } from '../../src/evidence/recorder';
import { Redactor } from '../../src/evidence/redact';
import { issueWildcard, makeCa } from '../../lab/src/tls';
import { tempDir } from '../helpers';

// The HTTP drivers against real sockets on 127.0.0.1: retries on 5xx, 4xx named, deadlines,
// paging, the token kept out of the evidence, and the public path's SNI, chain and fingerprint.

const dir = tempDir('http-test-');
after(() => rmSync(dir, { recursive: true, force: true }));
const TOKEN = 'tok-3f9a1c0d5e7b';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
async function serve(handler: Handler): Promise<{ base: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/`,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

let runs = 0;
function client(base: string, opts: { timeoutMs?: number; retries?: number } = {}): { api: JsonClient; runDir: string } {
  const runDir = join(dir, `run-${++runs}`);
  const recorder = new Recorder(runDir, runDir, new Redactor(), () => {});
  return { api: new JsonClient('gitea', base, `token ${TOKEN}`, recorder, opts.timeoutMs ?? 2000, opts.retries ?? 3), runDir };
}

function evidenceText(runDir: string): string {
  return readdirSync(join(runDir, 'commands'))
    .map((f) => readFileSync(join(runDir, 'commands', f), 'utf8'))
    .join('\n');
}

test('a 5xx is retried and then answered; the token goes in the header and never into the evidence', async (t) => {
  let calls = 0;
  const seen: string[] = [];
  const s = await serve((req, res) => {
    seen.push(String(req.headers.authorization));
    if (++calls < 3) return void res.writeHead(503).end('{"message":"busy"}');
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"login":"cc-ci-bot"}');
  });
  t.after(s.close);
  const { api, runDir } = client(s.base);
  const r = await api.get<{ login: string }>('api/v1/user');
  assert.equal(r.body.login, 'cc-ci-bot');
  assert.equal(calls, 3);
  assert.deepEqual(seen, Array(3).fill(`token ${TOKEN}`));
  const text = evidenceText(runDir);
  assert.match(text, /HTTP 503/);
  assert.match(text, /HTTP 200/);
  assert.ok(!text.includes(TOKEN), 'the token is not in the evidence');
});

test('a 4xx is not retried and its error names the client, the endpoint and the status', async (t) => {
  let calls = 0;
  const s = await serve((_req, res) => (calls++, res.writeHead(404).end('{"message":"The target couldn\'t be found."}')));
  t.after(s.close);
  const { api } = client(s.base);
  const e = await api.get('api/v1/repos/o/r/pulls/7').catch((x: unknown) => x);
  assert.ok(e instanceof HttpError);
  assert.equal(e.status, 404);
  assert.equal(e.message, "gitea GET /api/v1/repos/o/r/pulls/7 answered 404: The target couldn't be found.");
  assert.match(e.evidence ?? '', /commands\/0001-gitea\.log$/);
  assert.equal(calls, 1);
});

test('a server that never answers fails by the deadline, with the attempts counted', async (t) => {
  const s = await serve(() => undefined);
  t.after(s.close);
  const { api } = client(s.base, { timeoutMs: 200, retries: 1 });
  const t0 = Date.now();
  const e = await api.get('api/repos/o/r/builds').catch((x: unknown) => x);
  assert.ok(e instanceof HttpError);
  assert.match(e.message, /^gitea GET \/api\/repos\/o\/r\/builds failed after 1 attempt\(s\): .*[Tt]imeout/);
  assert.ok(Date.now() - t0 < 5000);
});

test('a refused connection is broken after the retries, not a status', async () => {
  const s = await serve(() => undefined);
  const base = s.base;
  await s.close();
  const { api } = client(base, { retries: 2 });
  const e = await api.get('api/v1/version').catch((x: unknown) => x);
  assert.ok(e instanceof HttpError);
  assert.equal(e.status, undefined);
  assert.match(e.message, /failed after 2 attempt\(s\): .*ECONNREFUSED/);
});

test('Gitea statuses are read page by page until a short page, and come newest first whatever the server order', async (t) => {
  const all = Array.from({ length: 120 }, (_, i) => ({ id: i + 1, status: 'pending', context: 'cc-ci/testme' }));
  const pages: string[] = [];
  const s = await serve((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    pages.push(`${u.searchParams.get('page')}/${u.searchParams.get('limit')}`);
    const page = Number(u.searchParams.get('page'));
    const limit = Number(u.searchParams.get('limit'));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(all.slice((page - 1) * limit, page * limit)));
  });
  t.after(s.close);
  const gitea = new Gitea(client(s.base).api, 'recipe-maintainers', 'custom-html');
  const statuses = await gitea.statuses('abc123');
  assert.equal(statuses.length, 120);
  assert.deepEqual([statuses[0]!.id, statuses[119]!.id], [120, 1]);
  assert.deepEqual(pages, ['1/50', '2/50', '3/50']);
});

test('Drone: a build and its step logs with a Bearer token; a step without logs yet is no lines, not an error', async (t) => {
  const auth: string[] = [];
  const s = await serve((req, res) => {
    auth.push(String(req.headers.authorization));
    if (req.url?.startsWith('/api/repos/o/r/builds/3/logs/1/2')) return void res.writeHead(404).end('{"message":"sql: no rows in result set"}');
    if (req.url?.startsWith('/api/repos/o/r/builds/3/logs/1/1')) return void res.writeHead(200).end('[{"pos":0,"out":"deploy ok\\n","time":1}]');
    res.writeHead(200).end(
      JSON.stringify({
        number: 3,
        status: 'running',
        stages: [
          {
            number: 1,
            name: 'default',
            status: 'running',
            steps: [
              { number: 1, name: 'deploy', status: 'success' },
              { number: 2, name: 'test', status: 'running' },
            ],
          },
        ],
      }),
    );
  });
  t.after(s.close);
  const runDir = join(dir, 'drone');
  const api = new JsonClient('drone', s.base, 'Bearer drone-tok', new Recorder(runDir, runDir, new Redactor(), () => {}), 2000);
  const drone = new Drone(api, 'o', 'r');
  const b = await drone.build(3);
  assert.deepEqual(await drone.allLogs(b), ['deploy ok\n']);
  assert.ok(auth.every((a) => a === 'Bearer drone-tok'));
});

test('the public path: the name goes as SNI to the given address, the chain is verified, the leaf fingerprint recorded', async (t) => {
  const caDir = join(dir, 'ca');
  const caFile = await makeCa(caDir);
  const ca = readFileSync(caFile, 'utf8');
  const cert = await issueWildcard(caDir, 'ci.lab.test', { days: 30 });
  const sni: string[] = [];
  const server = https.createServer({ cert: cert.fullchain, key: cert.privkey }, (req, res) => res.writeHead(200).end(`hello from ${req.headers.host}`));
  server.on('secureConnection', (s: { servername?: string }) => sni.push(String(s.servername)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  const { port } = server.address() as AddressInfo;

  const url = 'https://cust-0a1b2c.ci.lab.test';
  const ok = await getThroughGateway({ url, address: '127.0.0.1', port, ca, timeoutMs: 2000 });
  assert.equal(ok.status, 200);
  assert.equal(ok.error, undefined);
  assert.deepEqual(sni, ['cust-0a1b2c.ci.lab.test']);
  assert.match(ok.fingerprint256 ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(ok.bodyBytes, Buffer.byteLength('hello from cust-0a1b2c.ci.lab.test'));

  const untrusted = await getThroughGateway({ url, address: '127.0.0.1', port, timeoutMs: 2000 });
  assert.equal(untrusted.status, undefined);
  assert.match(untrusted.error ?? '', /UNABLE_TO_GET_ISSUER_CERT|self.signed|unable to (get|verify)/i);

  const wrongName = await getThroughGateway({ url: 'https://cust-0a1b2c.other.test', address: '127.0.0.1', port, ca, timeoutMs: 2000 });
  assert.equal(wrongName.status, undefined);
  assert.match(wrongName.error ?? '', /ERR_TLS_CERT_ALTNAME_INVALID|altnames/i);
});
