import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import tls from 'node:tls';
import { matchDomain, parseRule, parseTraefikFlags, startTraefik, type RunningTraefik } from '../../lab/src/traefik';
import { tempDir } from '../helpers';

const dir = tempDir('traefik-test-');
after(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', rej);
    p.on('close', (code) => res({ code, stdout, stderr }));
    p.stdin.end(input);
  });
}
async function openssl(...args: string[]): Promise<string> {
  const r = await run('openssl', args);
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const f = (name: string) => join(dir, name);
const fingerprintOf = async (pemFile: string) => (await openssl('x509', '-noout', '-fingerprint', '-sha256', '-in', pemFile)).trim().split('=')[1]!;

// A throwaway PKI: root CA -> intermediate CA -> leaves for ci.lab.test and *.ci.lab.test.
writeFileSync(f('req.cnf'), '[req]\ndistinguished_name=dn\n[dn]\n');
const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30'];
async function issue(name: string, subj: string, ca: string | undefined, ext: string[]): Promise<void> {
  await openssl(
    'req',
    '-config',
    f('req.cnf'),
    '-x509',
    ...ec,
    '-subj',
    subj,
    ...ext.flatMap((e) => ['-addext', e]),
    ...(ca ? ['-CA', f(`${ca}.pem`), '-CAkey', f(`${ca}.key`)] : []),
    '-keyout',
    f(`${name}.key`),
    '-out',
    f(`${name}.pem`),
  );
}
const pki = (async () => {
  const caExt = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
  await issue('root', '/CN=Lab Test Root CA', undefined, caExt);
  await issue('inter', '/CN=Lab Test Intermediate CA', 'root', caExt);
  const leafExt = ['subjectAltName=DNS:ci.lab.test,DNS:*.ci.lab.test', 'basicConstraints=CA:FALSE', 'extendedKeyUsage=serverAuth'];
  await issue('leaf1', '/CN=ci.lab.test', 'inter', leafExt);
  await issue('leaf2', '/CN=ci.lab.test', 'inter', leafExt);
})();
const rootCa = async () => (await pki, readFileSync(f('root.pem'), 'utf8'));

/** Puts leaf N at fullchain.pem/privkey.pem (leaf + intermediate, as a real fullchain). */
async function install(leaf: string, prefix = ''): Promise<{ fullchain: string; privkey: string }> {
  await pki;
  const fullchain = f(`${prefix}fullchain.pem`);
  const privkey = f(`${prefix}privkey.pem`);
  writeFileSync(fullchain, readFileSync(f(`${leaf}.pem`), 'utf8') + readFileSync(f('inter.pem'), 'utf8'));
  writeFileSync(privkey, readFileSync(f(`${leaf}.key`)));
  return { fullchain, privkey };
}

function dynamicYaml(certFile: string, keyFile: string, extra = ''): string {
  return `tls:
  certificates:
    - certFile: ${certFile}
      keyFile: ${keyFile}
http:
  routers:
    dashboard:
      rule: Host(\`ci.lab.test\`)
      entryPoints: [websecure]
      service: dashboard
      tls: {}
${extra}  services:
    dashboard:
      static: { status: 200, contentType: text/html, body: "<h1>cc-ci dashboard</h1>" }
`;
}

async function start(name: string, yaml: string, extraEps: Record<string, string> = {}): Promise<{ t: RunningTraefik; logs: string[]; file: string }> {
  const file = f(`${name}.yml`);
  writeFileSync(file, yaml);
  const logs: string[] = [];
  const t = await startTraefik({
    entrypoints: {
      websecure: '127.0.0.1:0',
      web: { address: '127.0.0.1:0', redirect: { to: 'websecure', scheme: 'https' } },
      ...extraEps,
    },
    dynamicFile: file,
    logLevel: 'DEBUG',
    log: (l) => logs.push(l),
  });
  return { t, logs, file };
}

interface Peer {
  fingerprint: string;
  cn: string;
  chain: string[];
}
function peer(port: number, servername?: string, ca?: string): Promise<Peer> {
  return new Promise((res, rej) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca, rejectUnauthorized: ca !== undefined, ALPNProtocols: ['http/1.1'] });
    s.once('error', rej);
    s.once('secureConnect', () => {
      const chain: string[] = [];
      for (let c = s.getPeerCertificate(true); c && !chain.includes(c.fingerprint256); c = c.issuerCertificate) chain.push(c.fingerprint256);
      const leaf = s.getPeerCertificate();
      s.end();
      res({ fingerprint: leaf.fingerprint256, cn: String(leaf.subject.CN), chain });
    });
  });
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}
function request(o: { port: number; host: string; secure: boolean; method?: string; path?: string; ca?: string }): Promise<Reply> {
  return new Promise((res, rej) => {
    const opts = { host: '127.0.0.1', port: o.port, method: o.method ?? 'GET', path: o.path ?? '/', headers: { Host: o.host }, agent: false as const };
    const done = (r: http.IncomingMessage) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString()));
      r.on('end', () => res({ status: r.statusCode!, headers: r.headers, body }));
    };
    const req = o.secure ? https.request({ ...opts, servername: o.host, ca: o.ca, rejectUnauthorized: o.ca !== undefined }, done) : http.request(opts, done);
    req.on('error', rej);
    req.end();
  });
}

async function until(what: string, cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('wildcard names cover exactly one leftmost label, like Traefik', () => {
  assert.ok(matchDomain('x.ci.lab.test', '*.ci.lab.test'));
  assert.ok(matchDomain('ci.lab.test', 'ci.lab.test'));
  assert.ok(!matchDomain('a.b.ci.lab.test', '*.ci.lab.test'));
  assert.ok(!matchDomain('ci.lab.test', '*.ci.lab.test'));
});

test('rules: Host with several names, ||, &&, ! and parentheses', () => {
  const r = (rule: string, host: string, path = '/') => parseRule(rule)({ host, path });
  assert.ok(r('Host(`a.test`, `b.test`)', 'b.test'));
  assert.ok(r('Host(`A.test`) || Host(`c.test`)', 'a.test'));
  assert.ok(!r('Host(`a.test`) && PathPrefix(`/api`)', 'a.test'));
  assert.ok(r('Host(`a.test`) && !PathPrefix(`/api`)', 'a.test'));
  assert.ok(r('(Host(`x.test`) || Host(`a.test`)) && Path(`/p`)', 'a.test', '/p'));
  assert.throws(() => parseRule('Host(`a`'), /expected \)/);
  assert.throws(() => parseRule('Header(`a`, `b`)'), /unsupported matcher Header/);
});

test('flags: entrypoints, redirection, file provider and log level; unknown flags fail like Traefik', () => {
  const o = parseTraefikFlags([
    '--entrypoints.web.address=:80',
    '--entryPoints.websecure.address=:443',
    '--entrypoints.web.http.redirections.entrypoint.to=websecure',
    '--entrypoints.web.http.redirections.entrypoint.scheme=https',
    '--providers.file.filename=/etc/traefik/dynamic.yml',
    '--log.level=INFO',
  ]);
  assert.deepEqual(o, {
    entrypoints: { web: { address: ':80', redirect: { to: 'websecure', scheme: 'https' } }, websecure: { address: ':443' } },
    dynamicFile: '/etc/traefik/dynamic.yml',
    logLevel: 'INFO',
  });
  assert.throws(() => parseTraefikFlags(['--bogus=1']), { message: 'failed to decode configuration from flags: field not found, node: bogus' });
  assert.throws(() => parseTraefikFlags(['--entrypoints.web.adress=:80']), /field not found, node: adress$/);
  assert.deepEqual(parseTraefikFlags([]).entrypoints, { http: { address: ':80' } });
});

test('SNI ci.lab.test and app.ci.lab.test get the configured leaf and chain; Node and openssl s_client agree', async () => {
  const { fullchain, privkey } = await install('leaf1', 'a-');
  const { t, logs } = await start('a', dynamicYaml(fullchain, privkey));
  try {
    const port = t.addresses.websecure!.port;
    const want = await fingerprintOf(f('leaf1.pem'));
    const ca = await rootCa();
    for (const name of ['ci.lab.test', 'app.ci.lab.test']) {
      const p = await peer(port, name, ca); // verifies the chain to the root (intermediate served) and the name
      assert.equal(p.fingerprint, want, name);
      assert.deepEqual(p.chain.slice(0, 2), [want, await fingerprintOf(f('inter.pem'))]);
    }
    const s = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'ci.lab.test']);
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(s.stdout)?.[0];
    assert.ok(pem, s.stdout + s.stderr);
    assert.equal((await run('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], pem)).stdout.trim().split('=')[1], want);
    assert.ok(
      logs.some((l) => l.includes('level=info msg="Adding certificate for domain(s) ci.lab.test,*.ci.lab.test"') && l.includes(`sha256="${want}"`)),
      logs.join('\n'),
    );
  } finally {
    await t.close();
  }
});

test('no SNI, an unknown name or a name two labels deep get the TRAEFIK DEFAULT CERT', async () => {
  const { fullchain, privkey } = await install('leaf1', 'b-');
  const { t } = await start('b', dynamicYaml(fullchain, privkey));
  try {
    const port = t.addresses.websecure!.port;
    for (const name of [undefined, 'other.test', 'a.b.ci.lab.test']) assert.equal((await peer(port, name)).cn, 'TRAEFIK DEFAULT CERT', String(name));
  } finally {
    await t.close();
  }
});

test('tls.stores.default.defaultCertificate replaces the generated default, also without SNI', async () => {
  const { fullchain, privkey } = await install('leaf2', 'b2-');
  const yaml = `tls:\n  stores:\n    default:\n      defaultCertificate: { certFile: ${fullchain}, keyFile: ${privkey} }\n`;
  const { t } = await start('b2', yaml);
  try {
    const want = await fingerprintOf(f('leaf2.pem'));
    for (const name of [undefined, 'other.test']) assert.equal((await peer(t.addresses.websecure!.port, name)).fingerprint, want, String(name));
  } finally {
    await t.close();
  }
});

test('HTTPS routes by Host: the dashboard answers 200, any other host 404 page not found', async () => {
  const { fullchain, privkey } = await install('leaf1', 'c-');
  const { t } = await start('c', dynamicYaml(fullchain, privkey));
  try {
    const port = t.addresses.websecure!.port;
    const ok = await request({ port, host: 'ci.lab.test', secure: true, ca: await rootCa() });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['content-type'], 'text/html');
    assert.equal(ok.body, '<h1>cc-ci dashboard</h1>');
    const miss = await request({ port, host: 'nope.ci.lab.test', secure: true, ca: await rootCa() });
    assert.equal(miss.status, 404);
    assert.equal(miss.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(miss.body, '404 page not found\n');
    // Plain HTTP on the TLS entrypoint finds no non-TLS router, as in Traefik.
    assert.equal((await request({ port, host: 'ci.lab.test', secure: false })).status, 404);
  } finally {
    await t.close();
  }
});

test('web redirects to https on the websecure port: 301 for GET, 308 otherwise (Traefik permanent redirection)', async () => {
  const { fullchain, privkey } = await install('leaf1', 'd-');
  const { t } = await start('d', dynamicYaml(fullchain, privkey), {});
  const t443 = await startTraefik({ entrypoints: { web: { address: '127.0.0.1:0', redirect: { to: ':443' } } }, log: () => undefined });
  try {
    const port = t.addresses.web!.port;
    const get = await request({ port, host: 'ci.lab.test', secure: false, path: '/x?y=1' });
    assert.equal(get.status, 301);
    assert.equal(get.headers.location, `https://ci.lab.test:${t.addresses.websecure!.port}/x?y=1`);
    const post = await request({ port, host: 'ci.lab.test:8080', secure: false, method: 'POST', path: '/hook' });
    assert.equal(post.status, 308);
    assert.equal(post.headers.location, `https://ci.lab.test:${t.addresses.websecure!.port}/hook`);
    const to443 = await request({ port: t443.addresses.web!.port, host: 'ci.lab.test', secure: false, path: '/' });
    assert.deepEqual([to443.status, to443.headers.location], [301, 'https://ci.lab.test/']);
  } finally {
    await t.close();
    await t443.close();
  }
});

test('a cert rewritten on disk is not served until the dynamic config file changes', async () => {
  const { fullchain, privkey } = await install('leaf1', 'e-');
  const { t, logs, file } = await start('e', dynamicYaml(fullchain, privkey));
  try {
    const port = t.addresses.websecure!.port;
    const [one, two] = [await fingerprintOf(f('leaf1.pem')), await fingerprintOf(f('leaf2.pem'))];
    assert.equal((await peer(port, 'ci.lab.test')).fingerprint, one);
    await install('leaf2', 'e-'); // same directory as the dynamic file
    await sleep(700);
    assert.equal((await peer(port, 'ci.lab.test')).fingerprint, one);
    assert.equal(logs.filter((l) => l.includes('msg="Configuration received"')).length, 1);
    const now = new Date();
    utimesSync(file, now, now); // touch
    await until('the new cert', async () => (await peer(port, 'ci.lab.test')).fingerprint === two);
    assert.ok(logs.some((l) => l.includes(`sha256="${two}"`)));
    // Rewriting the file with new content reloads too (back to leaf1, via other paths).
    const other = await install('leaf1', 'e2-');
    writeFileSync(file, dynamicYaml(other.fullchain, other.privkey));
    await until('the rewritten config', async () => (await peer(port, 'app.ci.lab.test')).fingerprint === one);
  } finally {
    await t.close();
  }
});

test('a missing cert file is logged like Traefik; the default cert is served and routing goes on', async () => {
  const missing = f('missing/fullchain.pem');
  const { t, logs } = await start('g', dynamicYaml(missing, f('missing/privkey.pem')));
  try {
    const port = t.addresses.websecure!.port;
    assert.equal((await peer(port, 'ci.lab.test')).cn, 'TRAEFIK DEFAULT CERT');
    assert.ok(
      logs.some((l) =>
        l.includes(`level=error msg="Unable to append certificate ${missing} to store: open ${missing}: no such file or directory" tlsStoreName=default`),
      ),
      logs.join('\n'),
    );
    const r = await request({ port, host: 'ci.lab.test', secure: true });
    assert.equal(r.status, 200);
  } finally {
    await t.close();
  }
});

test('loadBalancer services are proxied with the Host and X-Forwarded headers; a dead server is a 502', async () => {
  const backend = http.createServer((req, res) => res.end(JSON.stringify({ url: req.url, headers: req.headers })));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const dead = await new Promise<number>((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
  const { fullchain, privkey } = await install('leaf1', 'h-');
  const routers = `    app:
      rule: Host(\`app.ci.lab.test\`)
      service: app
      tls: {}
    gone:
      rule: Host(\`gone.ci.lab.test\`)
      service: gone
      tls: {}
`;
  const yaml = dynamicYaml(fullchain, privkey, routers).replace(
    '  services:\n',
    `  services:\n    app:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:${(backend.address() as net.AddressInfo).port}\n    gone:\n      loadBalancer:\n        servers: [{ url: "http://127.0.0.1:${dead}" }]\n`,
  );
  const { t } = await start('h', yaml);
  try {
    const port = t.addresses.websecure!.port;
    const r = await request({ port, host: 'app.ci.lab.test', secure: true, path: '/a?b=c', ca: await rootCa() });
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
    assert.equal(echo.url, '/a?b=c');
    assert.equal(echo.headers.host, 'app.ci.lab.test');
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    const bad = await request({ port, host: 'gone.ci.lab.test', secure: true, ca: await rootCa() });
    assert.deepEqual([bad.status, bad.body], [502, 'Bad Gateway']);
  } finally {
    await t.close();
    backend.close();
  }
});

const wrapper = resolve(__dirname, '../../lab/standins/traefik');

test('the CLI wrapper serves, exits 0 on SIGTERM, and exits 1 on an unknown flag', async () => {
  const { fullchain, privkey } = await install('leaf1', 'i-');
  const file = f('i.yml');
  writeFileSync(file, dynamicYaml(fullchain, privkey));
  const port = await new Promise<number>((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
  const p = spawn(wrapper, [`--entrypoints.websecure.address=127.0.0.1:${port}`, `--providers.file.filename=${file}`, '--log.level=INFO'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  try {
    await until('the CLI to load its certificate', async () => out.includes('msg="Adding certificate'), 30_000);
    assert.match(out, /^time="[^"]+" level=info msg="Configuration loaded from flags."$/m);
    assert.equal((await peer(port, 'ci.lab.test', await rootCa())).fingerprint, await fingerprintOf(f('leaf1.pem')));
  } finally {
    p.kill('SIGTERM');
  }
  assert.equal(await exited, 0, out);
  assert.doesNotMatch(out, /PRIVATE KEY/);

  const bad = await run(wrapper, ['--entrypoints.web.address=:80', '--bogus.flag=1']);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, 'Error: failed to decode configuration from flags: field not found, node: bogus\n');
});

test('no private key material is logged: a run with two leaves, a rewrite and a missing file, at DEBUG', async () => {
  const one = await install('leaf1', 'k-');
  const { t, logs, file } = await start('k', dynamicYaml(one.fullchain, one.privkey));
  try {
    const port = t.addresses.websecure!.port;
    await peer(port, 'ci.lab.test', await rootCa());
    const two = await install('leaf2', 'k2-');
    const leaf2 = await fingerprintOf(f('leaf2.pem'));
    writeFileSync(file, dynamicYaml(two.fullchain, two.privkey));
    await until('leaf2 served', async () => (await peer(port, 'ci.lab.test')).fingerprint === leaf2);
    writeFileSync(file, dynamicYaml(f('gone/fullchain.pem'), f('gone/privkey.pem')));
    await until('the default cert', async () => (await peer(port, 'ci.lab.test')).cn === 'TRAEFIK DEFAULT CERT');
  } finally {
    await t.close();
  }
  assert.ok(logs.length > 0);
  const keyLines = ['leaf1', 'leaf2'].flatMap((l) =>
    readFileSync(f(`${l}.key`), 'utf8')
      .split('\n')
      .filter((x) => x.length > 20 && !x.startsWith('-----')),
  );
  for (const line of logs) {
    assert.doesNotMatch(line, /PRIVATE KEY/);
    for (const k of keyLines) assert.ok(!line.includes(k));
  }
});
