import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redactor } from '../../src/evidence/redact';

test('a secret is replaced by its name, in plain and base64 forms', () => {
  const r = new Redactor();
  r.add('token', 's3cr3t-token-value');
  const b64 = Buffer.from('s3cr3t-token-value').toString('base64');
  const out = r.redact(`a s3cr3t-token-value b ${b64} c`);
  assert.equal(out, 'a [REDACTED:token] b [REDACTED:token] c');
});

test('a key file leaks neither whole nor line by line', () => {
  const key =
    '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACBfakekeymaterialfakekeymaterialfakekey\n-----END OPENSSH PRIVATE KEY-----\n';
  const r = new Redactor();
  r.add('ssh-key', key);
  const out = r.redact(`log: QyNTUxOQAAACBfakekeymaterialfakekeymaterialfakekey end`);
  assert.doesNotMatch(out, /fakekeymaterial/);
});

test('values too short to redact safely are left alone, and nothing else changes', () => {
  const r = new Redactor();
  r.add('tiny', 'ab');
  assert.equal(r.redact('ab abc'), 'ab abc');
  assert.equal(new Redactor().redact('plain'), 'plain');
});

test('hex, URL, JSON and every base64 form of a value are replaced too', () => {
  const v = 'p@ss w0rd/with+more~';
  const r = new Redactor();
  r.add('pw', v);
  const bytes = Buffer.from(v);
  const forms = [
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    encodeURIComponent(v),
    new URLSearchParams({ v }).toString().slice(2),
    JSON.stringify(v + '"').slice(1, -3),
    bytes.toString('base64'),
    bytes.toString('base64url'),
    Buffer.from(v + '\n').toString('base64'), // echo "$v" | base64
  ];
  for (const f of forms) assert.equal(r.redact(`<${f}>`), '<[REDACTED:pw]>', f);
  // Inside a longer base64 text the value is not its own form: live redaction leaves it, and the
  // end-of-run scan (leak-scan.test.ts) finds it at every alignment and fails the run.
  const buried = Buffer.from('user:' + v + 'tail').toString('base64');
  assert.equal(r.redact(buried), buried);
  assert.ok(r.denyList().some((e) => e.form.startsWith('base64-offset') && buried.includes(e.text)));
});

test('a JSON-escaped key file is replaced whole', () => {
  const key = 'line one of the key material\nline two of the key material "quoted"\n';
  const r = new Redactor();
  r.add('k', key);
  assert.equal(r.redact(JSON.stringify({ m: key })), '{"m":"[REDACTED:k]"}');
});

test('short values are redacted raw only; absorb learns what another redactor knows', () => {
  const r = new Redactor();
  r.add('pin', '12345');
  const b64 = Buffer.from('12345').toString('base64');
  assert.equal(r.redact(`12345 ${b64}`), `[REDACTED:pin] ${b64}`);
  const cli = new Redactor();
  cli.absorb(r);
  assert.equal(cli.redact('12345'), '[REDACTED:pin]');
  assert.deepEqual(cli.names(), ['pin']);
});

test("an age key file's comment lines (its public key, its date) are not secret lines", () => {
  const key =
    '# created: 2020-07-18T03:16:47-07:00\n# public key: age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw\nAGE-SECRET-KEY-1NJT5YCS2LWU4V4QAJQ6R4JNU7LXPDX602DZ9NUFANVU5GDTGUWCQ5T59M6V\n';
  const r = new Redactor();
  r.add('recovery-key', key);
  assert.equal(
    r.redact('recipient: # public key: age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw'),
    'recipient: # public key: age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw',
  );
  assert.equal(r.redact('AGE-SECRET-KEY-1NJT5YCS2LWU4V4QAJQ6R4JNU7LXPDX602DZ9NUFANVU5GDTGUWCQ5T59M6V'), '[REDACTED:recovery-key]');
});
