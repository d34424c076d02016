import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PROJECT_ROOT } from '../../src/paths';
import { parseKeyScan } from '../../src/checks/c3';
import { tempDir } from '../helpers';

// The private-key scan (src/remote/key-scan.sh), run here on keys in every format it must find,
// and on public material that looks close and must not be reported.

const SCRIPT = readFileSync(join(PROJECT_ROOT, 'src', 'remote', 'key-scan.sh'), 'utf8');
const dir = tempDir('key-scan-');
after(() => rmSync(dir, { recursive: true, force: true }));

const sh = (cmd: string) => execFileSync('bash', ['-ec', cmd], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const scan = (excluded: string[], paths: string[]) => execFileSync('bash', ['-c', SCRIPT, 'key-scan', ...excluded, '--', ...paths], { encoding: 'utf8' });

test('keys in text and binary formats are found; certificates, public keys and noise are not', () => {
  mkdirSync(join(dir, 'keys'));
  mkdirSync(join(dir, 'public'));
  mkdirSync(join(dir, 'excluded'));
  sh(
    [
      'cd keys',
      'openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null',
      'openssl pkcs8 -topk8 -nocrypt -in rsa.pem -outform DER -out rsa-pkcs8.der',
      'openssl pkcs8 -topk8 -v2 aes256 -passout pass:x -in rsa.pem -outform DER -out rsa-encrypted.der',
      'openssl rsa -in rsa.pem -traditional -outform DER -out rsa-pkcs1.der 2>/dev/null',
      'openssl genpkey -algorithm ed25519 -outform DER -out ed25519.der 2>/dev/null',
      'openssl ecparam -name prime256v1 -genkey -noout -outform DER -out ec-sec1.der 2>/dev/null',
      'openssl req -x509 -key rsa.pem -subj /CN=lab -days 1 -out ../public/cert.pem 2>/dev/null',
      'openssl pkcs12 -export -inkey rsa.pem -in ../public/cert.pem -passout pass:x -out bundle.p12',
      "ssh-keygen -q -t ed25519 -N '' -C t -f openssh_key && mv openssh_key.pub ../public/",
      'printf "PuTTY-User-Key-File-3: ssh-ed25519\\nEncryption: none\\n" > putty.ppk',
      'cd ../public',
      'openssl x509 -in cert.pem -outform DER -out cert.der',
      'openssl pkey -in ../keys/rsa.pem -pubout -outform DER -out rsa-pub.der',
      'printf "notes: rotate the PRIVATE KEY of the gateway next week\\n" > notes.txt',
      'cp ../keys/openssh_key ../excluded/',
    ].join('\n'),
  );
  // An age identity inside a binary file (a database page, say), and random bytes.
  writeFileSync(
    join(dir, 'keys', 'state.db'),
    Buffer.concat([randomBytes(300), Buffer.from('\0AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\0'), randomBytes(300)]),
  );
  writeFileSync(join(dir, 'public', 'random.bin'), randomBytes(4096));
  const r = parseKeyScan(scan([join(dir, 'excluded')], [dir, join(dir, 'not-there')]));
  assert.equal(r.done, true);
  assert.equal(r.error, undefined);
  const found = new Set(r.files.map((f) => f.path.slice(dir.length + 1)));
  const want = [
    'rsa.pem',
    'rsa-pkcs8.der',
    'rsa-encrypted.der',
    'rsa-pkcs1.der',
    'ed25519.der',
    'ec-sec1.der',
    'bundle.p12',
    'openssh_key',
    'putty.ppk',
    'state.db',
  ].map((f) => `keys/${f}`);
  assert.deepEqual([...found].sort(), want.sort());
  assert.equal(r.files.find((f) => f.path.endsWith('bundle.p12'))?.kind, 'der');
});

test('an error of grep fails the scan, naming it, rather than reading as "none found"', () => {
  // A grep that meets an unreadable file: what an I/O error on the host looks like.
  const shim = join(dir, 'shim');
  mkdirSync(shim);
  writeFileSync(join(shim, 'grep'), '#!/bin/sh\necho "grep: /var/lib/x/blob: Input/output error" >&2\nexit 2\n', { mode: 0o755 });
  let out = '';
  try {
    execFileSync('bash', ['-c', SCRIPT, 'key-scan', '--', join(dir, 'keys')], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${shim}:${process.env.PATH}` },
    });
    assert.fail('the scan exited 0');
  } catch (e) {
    out = String((e as { stdout?: string }).stdout ?? '');
    assert.equal((e as { status?: number }).status, 4);
  }
  const r = parseKeyScan(out);
  assert.equal(r.done, false);
  assert.match(r.error ?? '', /Input\/output error/);
});
