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

// The DER patterns as they were, run by `grep -laP` on the files' bytes. grep reads lines, so a
// length byte 0x0a ended the "line" inside the header and the key was not seen (a PKCS#12 bundle
// of 0x0a2f bytes begins 30 82 0a 2f). 0x0d was never the trouble (PCRE's `.` takes it); the test
// below has both, and proves that the 0x0a files are ones this grep missed.
const OLD_LEN = String.raw`(\x82..|\x81.|[\x00-\x7f])`;
const OLD_DER = [
  String.raw`^\x30${OLD_LEN}\x02\x01[\x00\x01]\x30${OLD_LEN}\x06`,
  String.raw`^\x30${OLD_LEN}\x30${OLD_LEN}\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x05\x0d`,
  String.raw`^\x30(\x82..|\x83...)\x02\x01\x03\x30`,
  String.raw`^\x30\x82..\x02\x01\x00\x02\x82`,
  String.raw`^\x30${OLD_LEN}\x02\x01\x01\x04[\x20\x30\x42]`,
].join('|');
const oldGrep = (files: string[]): string[] => {
  try {
    return execFileSync('grep', ['-laP', '--', OLD_DER, ...files], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } })
      .split('\n')
      .filter(Boolean);
  } catch (e) {
    if ((e as { status?: number }).status === 1) return [];
    throw e;
  }
};
/** The length bytes of the DER object a file begins with (after 30 8N). */
const lengthBytes = (file: string): number[] => {
  const b = readFileSync(file);
  assert.equal(b[0], 0x30, `${file} begins with a SEQUENCE`);
  return [...b.subarray(2, 2 + (b[1]! & 0x7f))];
};

test('DER keys whose length bytes hold 0x0a or 0x0d are found, from the file start; public DER is not', () => {
  for (const d of ['der-src', 'der', 'der-public']) mkdirSync(join(dir, d));
  sh(
    [
      'cd der-src',
      // RSA keys sized so their DER lengths are 0x0a.. (4400 bits, 3 primes) and 0x0d.. (5600
      // bits, 4 primes), as PKCS#1 (multi-prime: version 1), PKCS#8 and PBES2-encrypted PKCS#8.
      'for spec in 0a:4400:3 0d:5600:4; do',
      '  IFS=: read -r b bits primes <<< "$spec"',
      '  openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:$bits -pkeyopt rsa_keygen_primes:$primes -out rsa-$b.pem 2>/dev/null',
      '  openssl rsa -in rsa-$b.pem -traditional -outform DER -out ../der/rsa-$b-pkcs1.der 2>/dev/null',
      '  openssl pkcs8 -topk8 -nocrypt -in rsa-$b.pem -outform DER -out ../der/rsa-$b-pkcs8.der',
      '  openssl pkcs8 -topk8 -v2 aes256 -passout pass:x -in rsa-$b.pem -outform DER -out ../der/rsa-$b-encrypted.der',
      'done',
      // Two-prime RSA of 512 and 1024 bits: a modulus of 02 41 and 02 81 81, not 02 82.
      'for bits in 512 1024; do',
      '  openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:$bits -out rsa-$bits.pem 2>/dev/null',
      '  openssl rsa -in rsa-$bits.pem -traditional -outform DER -out ../der/rsa-$bits-pkcs1.der 2>/dev/null',
      'done',
      // PKCS#12 bundles of an RSA-2048 key and its cert, the friendly name grown 10 characters at
      // a time (some 40 bytes) until the bundle's length holds 0x0a, then 0x0d.
      'openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out rsa-2048.pem 2>/dev/null',
      'openssl req -x509 -key rsa-2048.pem -subj /CN=lab -days 1 -out cert.pem 2>/dev/null',
      'for n in $(seq 0 10 400); do',
      '  openssl pkcs12 -export -inkey rsa-2048.pem -in cert.pem -passout pass:x -name "$(printf "%${n}s" "" | tr " " k)" -out p.p12',
      '  h=$(head -c 4 p.p12 | od -An -tx1 | tr -d " \\n")',
      '  for b in 0a 0d; do',
      '    case $h in 3082$b??|3082??$b) [ -e ../der/bundle-$b.p12 ] || cp p.p12 ../der/bundle-$b.p12 ;; esac',
      '  done',
      '  [ -e ../der/bundle-0a.p12 ] && [ -e ../der/bundle-0d.p12 ] && break',
      'done',
      // Public DER that begins as the keys do: an RSA public key in PKCS#1 (30 82 01 0a 02 82),
      // DH parameters (30 82 01 08 02 82), a PKCS#7 bundle of the cert, and text that begins "0".
      'cd ../der-public',
      'openssl rsa -in ../der-src/rsa-2048.pem -RSAPublicKey_out -outform DER -out rsa-pub-pkcs1.der 2>/dev/null',
      'openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out ../der-src/dh.pem',
      'openssl dhparam -in ../der-src/dh.pem -outform DER -out dh.der 2>/dev/null',
      'openssl crl2pkcs7 -nocrl -certfile ../der-src/cert.pem -outform DER -out certs.p7b',
      'printf "0\\x82 is the long form of a DER length\\n" > notes.txt',
    ].join('\n'),
  );
  const keys = [
    'rsa-0a-pkcs1.der',
    'rsa-0a-pkcs8.der',
    'rsa-0a-encrypted.der',
    'bundle-0a.p12',
    'rsa-0d-pkcs1.der',
    'rsa-0d-pkcs8.der',
    'rsa-0d-encrypted.der',
    'bundle-0d.p12',
    'rsa-512-pkcs1.der',
    'rsa-1024-pkcs1.der',
  ];
  for (const k of keys.filter((k) => /-0[ad]/.test(k))) {
    const want = k.includes('-0a') ? 0x0a : 0x0d;
    assert.ok(lengthBytes(join(dir, 'der', k)).includes(want), `${k}'s length bytes hold 0x${want.toString(16).padStart(2, '0')}`);
  }
  assert.ok(lengthBytes(join(dir, 'der-public', 'rsa-pub-pkcs1.der')).includes(0x0a));
  // The old grep missed the 0x0a PKCS#8 and PKCS#12 files (its PKCS#1 pattern knew neither
  // multi-prime keys nor moduli under 02 82) and found their 0x0d twins.
  const oldSaw = new Set(oldGrep(keys.map((k) => join(dir, 'der', k))).map((p) => p.slice(dir.length + 5)));
  for (const k of ['rsa-0a-pkcs8.der', 'rsa-0a-encrypted.der', 'bundle-0a.p12']) assert.ok(!oldSaw.has(k), `the old grep saw ${k}`);
  for (const k of ['rsa-0d-pkcs8.der', 'rsa-0d-encrypted.der', 'bundle-0d.p12']) assert.ok(oldSaw.has(k), `the old grep missed ${k}`);

  const r = parseKeyScan(scan([join(dir, 'der-src')], [join(dir, 'der'), join(dir, 'der-public'), join(dir, 'der-src')]));
  assert.equal(r.done, true);
  assert.equal(r.error, undefined);
  assert.deepEqual(r.files.map((f) => `${f.kind} ${f.path.slice(dir.length + 1)}`).sort(), keys.map((k) => `der der/${k}`).sort());
});

/** The scan with one tool shimmed to fail as an I/O error does: it must exit 4, not done, naming the error. */
function scanWithFailing(tool: string, message: string, exitCode: number): ReturnType<typeof parseKeyScan> {
  const shim = join(dir, `shim-${tool}`);
  mkdirSync(shim);
  writeFileSync(join(shim, tool), `#!/bin/sh\necho "${message}" >&2\nexit ${exitCode}\n`, { mode: 0o755 });
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
  return r;
}

test('an error of grep fails the scan, naming it, rather than reading as "none found"', () => {
  // A grep that meets an unreadable file: what an I/O error on the host looks like.
  assert.match(scanWithFailing('grep', 'grep: /var/lib/x/blob: Input/output error', 2).error ?? '', /Input\/output error/);
});

test('an error of od, reading the first bytes of a DER file, fails the scan too', () => {
  assert.match(scanWithFailing('od', 'od: /var/lib/x/key.der: Input/output error', 1).error ?? '', /od: .*Input\/output error/);
});
