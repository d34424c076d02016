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
  const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACBfakekeymaterialfakekeymaterialfakekey\n-----END OPENSSH PRIVATE KEY-----\n';
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
