import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  fingerprintOf,
  lookupName,
  parseKnownHosts,
  preferredAlgorithms,
  entriesFor,
  verifyAgainstKnownHosts,
  verifyPinned,
} from '../../src/drivers/known-hosts';
import { tempDir } from '../helpers';

const dir = tempDir('kh-');
function newKey(name: string): { line: string; blob: Buffer } {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
  const line = readFileSync(join(dir, `${name}.pub`), 'utf8').trim();
  return { line, blob: Buffer.from(line.split(' ')[1]!, 'base64') };
}
const a = newKey('a');
const b = newKey('b');

test('the fingerprint is the one ssh-keygen -l prints', () => {
  const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'a.pub')])
    .toString()
    .split(' ')[1];
  assert.equal(fingerprintOf(a.blob), printed);
});

test('a plain entry accepts its key and names the line', () => {
  const entries = parseKnownHosts(`# comment\n10.0.0.1 ${a.line}\n`);
  const v = verifyAgainstKnownHosts(entries, ['10.0.0.1'], a.blob, 'kh');
  assert.deepEqual(v.ok && v.line, 2);
});

test('a host with another key on record is refused as changed, naming both keys', () => {
  const entries = parseKnownHosts(`10.0.0.1 ${a.line}\n`);
  const v = verifyAgainstKnownHosts(entries, ['10.0.0.1'], b.blob, 'kh');
  assert.equal(v.ok, false);
  assert.equal(!v.ok && v.reason, 'changed');
  assert.match(!v.ok ? v.message : '', new RegExp(`HOST KEY CHANGED.*${escapeRegex(fingerprintOf(b.blob))}.*${escapeRegex(fingerprintOf(a.blob))}`));
});

test('a host with no entry is refused as unknown, with the fingerprint to pin', () => {
  const v = verifyAgainstKnownHosts(parseKnownHosts(`10.0.0.2 ${a.line}\n`), ['10.0.0.1'], a.blob, 'kh');
  assert.equal(!v.ok && v.reason, 'unknown');
  assert.match(!v.ok ? v.message : '', /pin hostKey\.fingerprint: SHA256:/);
});

test('hashed entries (ssh-keygen -H) and [host]:port names match', () => {
  const file = join(dir, 'known_hosts');
  writeFileSync(file, `[10.0.0.1]:2222 ${a.line}\nhost.example ${b.line}\n`);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', file]);
  const entries = parseKnownHosts(readFileSync(file, 'utf8'));
  assert.ok(entries.every((e) => e.patterns.startsWith('|1|')));
  assert.equal(verifyAgainstKnownHosts(entries, [lookupName('10.0.0.1', 2222)], a.blob, file).ok, true);
  assert.equal(verifyAgainstKnownHosts(entries, [lookupName('host.example', 22)], b.blob, file).ok, true);
  assert.equal(verifyAgainstKnownHosts(entries, [lookupName('10.0.0.1', 22)], a.blob, file).ok, false);
});

test('wildcards, negation and @revoked', () => {
  const entries = parseKnownHosts(`*.lab,!bad.lab ${a.line}\n@revoked * ${b.line}\n`);
  assert.equal(verifyAgainstKnownHosts(entries, ['x.lab'], a.blob, 'kh').ok, true);
  assert.equal(verifyAgainstKnownHosts(entries, ['bad.lab'], a.blob, 'kh').ok, false);
  const revoked = verifyAgainstKnownHosts(entries, ['x.lab'], b.blob, 'kh');
  assert.equal(!revoked.ok && revoked.reason, 'revoked');
});

test('the client asks for the key types on record', () => {
  const entries = parseKnownHosts(`h ${a.line}\nh ssh-rsa AAAAB3NzaC1yc2E=\n`);
  assert.deepEqual(preferredAlgorithms(entriesFor(entries, ['h'])), ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
});

test('a pinned fingerprint accepts its key and refuses any other', () => {
  assert.equal(verifyPinned(fingerprintOf(a.blob), ['h'], a.blob).ok, true);
  const v = verifyPinned(fingerprintOf(a.blob), ['h'], b.blob);
  assert.equal(!v.ok && v.reason, 'mismatch');
  assert.match(!v.ok ? v.message : '', /HOST KEY MISMATCH/);
});

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
