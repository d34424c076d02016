import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { UsageError } from '../../src/errors';
import { loadProfile, MAX_PROFILE_BYTES } from '../../src/profile/load';
import { PROFILES_DIR, PROJECT_ROOT } from '../../src/paths';
import { LAB_ROOT } from '../../lab/src/paths';
import { tempDir } from '../helpers';

// Hostile profiles: each is refused by the loader with a UsageError naming the file and the
// field, and a representative few through the CLI as a user runs it: exit 2, `error: …`, no lab,
// no report, no host contacted.

const dir = tempDir('hostile-profiles-');
after(() => rmSync(dir, { recursive: true, force: true }));

const labText = readFileSync(join(PROFILES_DIR, 'lab.yaml'), 'utf8');

/** The lab profile with one change, written to a file. */
function variant(name: string, change: (p: Record<string, any>) => void): string {
  const p = parse(labText);
  change(p);
  return raw(name, stringify(p));
}

/** The lab profile's text with one edit (which must apply), written to a file. */
function edited(name: string, from: string | RegExp, to: string): string {
  const text = labText.replace(from, to);
  assert.notEqual(text, labText, `${name}: the edit applies to profiles/lab.yaml`);
  return raw(name, text);
}

function raw(name: string, content: string | Buffer): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, content);
  return file;
}

/** A file beside the profiles, e.g. a known_hosts. */
function aux(name: string, content: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

/** Bytes from a fixed seed: the same garbage on every run. */
function garbage(n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = 0x2545f491;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** An SSH public key blob: string keytype, then the rest. */
function keyBlob(type: string, rest = 32): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(type.length);
  return Buffer.concat([len, Buffer.from(type), Buffer.alloc(4 + rest, 7)]);
}

function billionLaughs(): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 10; i++) {
    const name = String.fromCharCode(97 + i);
    const prev = String.fromCharCode(96 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  return lines.join('\n') + '\n';
}

let big: string | undefined;
/** 50 MB of well-formed YAML: only its size is wrong. */
function fiftyMegabytes(): string {
  if (!big) {
    big = join(dir, 'fifty-megabytes.yaml');
    writeFileSync(big, Buffer.alloc(50 * 1024 * 1024, 'a: b\n'));
  }
  return big;
}

interface Case {
  /** What is hostile about the profile, as the test's name says it. */
  name: string;
  make: () => string;
  /** What the error must name: the field (and the phrase that says what is wrong with it). */
  names: RegExp;
  /** Also run through the CLI as a user does. */
  cli?: boolean;
}

const CASES: Case[] = [
  // The file itself
  {
    name: 'a YAML alias bomb (billion laughs)',
    make: () => raw('alias-bomb', billionLaughs()),
    names: /^ {2}- [a-j]\.\d+: the alias \*[a-i] \(\d+ values\) expands the profile past 20000 values: an alias bomb/m,
    cli: true,
  },
  {
    name: 'a YAML alias that refers to the node it is in',
    make: () => raw('alias-self', `${labText}\nloop: &loop [*loop]\n`),
    names: /^ {2}- loop\.0: the alias \*loop refers to the node it is in/m,
  },
  {
    name: 'a 50 MB file, refused by its size before it is read',
    make: fiftyMegabytes,
    names: new RegExp(`^ {2}- \\(file\\): 52428800 bytes \\(50\\.0 MiB\\): a profile is at most ${MAX_PROFILE_BYTES} bytes`, 'm'),
    cli: true,
  },
  {
    name: 'binary garbage',
    make: () => raw('garbage', garbage(4096)),
    names: /^ {2}- \(file\): is not (a text file: a NUL byte|UTF-8 text: an invalid byte 0x[0-9a-f]{2}) at offset \d+/m,
    cli: true,
  },
  {
    name: 'a NUL byte in an otherwise valid profile',
    make: () => raw('nul', labText.replace('name: lab', 'name: l\0ab')),
    names: /^ {2}- \(file\): is not a text file: a NUL byte at offset \d+/m,
  },
  {
    name: 'invalid UTF-8 (a Latin-1 é in the description)',
    make: () => raw('latin1', Buffer.from(labText.replace('description: Lab hosts', 'description: Café hosts'), 'latin1')),
    names: /^ {2}- \(file\): is not UTF-8 text: an invalid byte 0xe9 at offset \d+/m,
  },
  {
    name: 'a raw terminal escape in a value',
    make: () => edited('raw-escape', 'description: Lab', 'description: \x1b[2JLab'),
    names: /^ {2}- description: holds the control character U\+001B/m,
  },
  {
    name: 'a raw terminal escape in a comment',
    make: () => edited('comment-escape', '# The lab:', '# \x1b]2;owned\x07The lab:'),
    names: /^ {2}- \(file\) line 1, column 3: holds the control character U\+001B; a profile is text/m,
  },
  {
    name: 'an escaped terminal escape in a quoted string',
    make: () => variant('quoted-escape', (p) => (p.description = 'Lab \x1b]0;owned\x07 hosts')),
    names: /^ {2}- description: holds the control character U\+001B/m,
  },
  {
    name: 'a right-to-left override in the profile name',
    make: () => variant('bidi', (p) => (p.name = 'lab\u202egnp.exe')),
    names: /^ {2}- name: holds the control character U\+202E/m,
  },
  {
    name: '[ nested 60000 levels deep',
    make: () => raw('deep-flow', `name: ${'['.repeat(60_000)}${']'.repeat(60_000)}\n`),
    names: /^ {2}- \(file\) line 1: \[ and \{ nest more than 32 levels deep/m,
  },
  {
    name: 'maps nested 40 levels deep',
    make: () => raw('deep-block', `${labText}\nx:\n${Array.from({ length: 40 }, (_, i) => `${'  '.repeat(i + 1)}k${i}:`).join('\n')} 1\n`),
    names: /^ {2}- x(\.k\d+){32,}: nested more than 32 levels deep/m,
  },
  {
    name: 'two YAML documents in one file',
    make: () => raw('two-docs', `${labText}\n---\nname: other\n`),
    names: /^ {2}- \(file\) line \d+, column \d+: not valid YAML: Source contains multiple documents/m,
  },
  {
    name: 'a YAML syntax error (an unclosed quote)',
    make: () => edited('syntax', 'name: lab', 'name: "lab'),
    names: /^ {2}- \(file\) line \d+, column \d+: not valid YAML: /m,
  },
  {
    name: 'a profile directory instead of a file',
    make: () => (mkdirSync(join(dir, 'a-dir.yaml'), { recursive: true }), join(dir, 'a-dir.yaml')),
    names: /^ {2}- \(file\): is a directory, not a profile file/m,
  },
  { name: '/dev/zero, an endless device', make: () => '/dev/zero', names: /^ {2}- \(file\): is a device, not a profile file/m, cli: true },
  {
    name: 'a named pipe, which would block a reader forever',
    make: () => {
      const fifo = join(dir, 'fifo.yaml');
      if (!existsSync(fifo)) execFileSync('mkfifo', [fifo]);
      return fifo;
    },
    names: /^ {2}- \(file\): is a named pipe, not a profile file/m,
    cli: true,
  },
  { name: 'an empty file', make: () => raw('empty', ''), names: /^ {2}- \(top level\): expected object, received null/m },
  { name: 'a list at the top level', make: () => raw('list', '- name: lab\n'), names: /^ {2}- \(top level\): expected object, received array/m },

  // Duplicate keys
  {
    name: 'a top-level key given twice',
    make: () => raw('dup-top', `${labText}\nstacks: 7\n`),
    names: /^ {2}- stacks: given twice \(line \d+, column 1 and line \d+, column 1\)/m,
    cli: true,
  },
  {
    name: 'a key of a host given twice',
    make: () => edited('dup-host', '    address: 127.0.10.3\n', '    address: 127.0.10.3\n    address: 10.0.0.1\n'),
    names: /^ {2}- hosts\.cc-ci\.address: given twice/m,
  },
  {
    name: 'a role given twice',
    make: () => edited('dup-role', '  build: builder\n', '  build: builder\n  build: cc-ci\n'),
    names: /^ {2}- roles\.build: given twice/m,
  },

  // YAML tags
  {
    name: 'a !!binary value',
    make: () => edited('binary-tag', 'name: lab', 'name: !!binary bGFi'),
    names: /^ {2}- name: the YAML tag !!binary is not allowed in a profile/m,
  },
  {
    name: 'a custom tag (!ruby/object)',
    make: () => edited('custom-tag', 'stacks: 6', 'stacks: !ruby/object:Gem::Installer 6'),
    names: /^ {2}- stacks: the YAML tag !ruby\/object:Gem::Installer is not allowed/m,
  },

  // Wrong types
  {
    name: 'a port given as words',
    make: () => variant('port-words', (p) => (p.hosts['cc-ci'].port = 'twenty-two')),
    names: /^ {2}- hosts\.cc-ci\.port: expected number, received string/m,
  },
  {
    name: 'secret names as one string instead of a list',
    make: () => variant('names-string', (p) => (p.secrets.names = 'test_secret')),
    names: /^ {2}- secrets\.names: expected array, received string/m,
  },
  { name: 'hosts as a list', make: () => variant('hosts-list', (p) => (p.hosts = [p.hosts.forge])), names: /^ {2}- hosts: expected record, received array/m },
  { name: 'a boolean spelt yes', make: () => variant('vm-yes', (p) => (p.incus.vm = 'yes')), names: /^ {2}- incus\.vm: expected boolean, received string/m },
  {
    name: 'an unknown transport',
    make: () => variant('telnet', (p) => (p.hosts.forge.transport = 'telnet')),
    names: /^ {2}- hosts\.forge\.transport: Invalid discriminator value/m,
  },

  // Unknown keys, at every level
  { name: 'an unknown top-level key', make: () => variant('unknown-top', (p) => (p.passwords = { root: 'x' })), names: /^ {2}- passwords: unknown field/m },
  {
    name: 'an unknown key in a host',
    make: () => variant('unknown-host', (p) => (p.hosts.forge.pasword = 'x')),
    names: /^ {2}- hosts\.forge\.pasword: unknown field/m,
  },
  {
    name: 'an unknown key in a host key',
    make: () => variant('unknown-hostkey', (p) => (p.hosts.forge.hostKey.trust = 'always')),
    names: /^ {2}- hosts\.forge\.hostKey\.trust: unknown field/m,
  },
  {
    name: 'an unknown key three levels down',
    make: () => variant('unknown-deep', (p) => (p.e2e.deadlines.forever = '1h')),
    names: /^ {2}- e2e\.deadlines\.forever: unknown field/m,
  },
  { name: 'a __proto__ key', make: () => edited('proto', 'stacks: 6', 'stacks: 6\n__proto__: { target: live }'), names: /^ {2}- __proto__: unknown field/m },

  // Empty and huge strings
  { name: 'an empty profile name', make: () => variant('empty-name', (p) => (p.name = '')), names: /^ {2}- name: expected a profile name/m },
  {
    name: 'an empty host name',
    make: () => variant('empty-host', (p) => (p.hosts[''] = { transport: 'local' })),
    names: /^ {2}- hosts\."": as a name: expected a host name/m,
  },
  {
    name: 'a 100 KB host name',
    make: () => variant('huge-host', (p) => (p.hosts['h'.repeat(100 * 1024)] = { transport: 'local' })),
    names: /^ {2}- hosts\.h{40}…\(102400 characters\): a key of 102400 characters; at most 256/m,
    cli: true,
  },
  {
    name: 'a 100 KB host address',
    make: () => variant('huge-address', (p) => (p.hosts.forge.address = 'a'.repeat(100 * 1024))),
    names: /^ {2}- hosts\.forge\.address: a string of 102400 characters; at most 4096/m,
  },
  {
    name: 'a 100 KB description',
    make: () => variant('huge-description', (p) => (p.description = 'lab '.repeat(25 * 1024))),
    names: /^ {2}- description: a string of 102400 characters; at most 4096/m,
  },

  // Durations
  {
    name: 'a negative timeout',
    make: () => variant('timeout-negative', (p) => (p.timeouts.build = '-5m')),
    names: /^ {2}- timeouts\.build: a duration must be longer than zero/m,
  },
  {
    name: 'a negative timeout in seconds',
    make: () => variant('timeout-negative-number', (p) => (p.timeouts.command = -30)),
    names: /^ {2}- timeouts\.command: is -30: a duration must be longer than zero/m,
  },
  {
    name: 'a zero timeout',
    make: () => variant('timeout-zero', (p) => (p.timeouts.connect = '0s')),
    names: /^ {2}- timeouts\.connect: is 0s: a duration must be longer than zero/m,
  },
  {
    name: 'a zero deadline in seconds',
    make: () => variant('deadline-zero', (p) => (p.e2e.deadlines.pickup = 0)),
    names: /^ {2}- e2e\.deadlines\.pickup: is 0: a duration must be longer than zero/m,
  },
  {
    name: 'a timeout of 400 days, which Node would fire at once',
    make: () => variant('timeout-huge', (p) => (p.timeouts.scan = '400d')),
    names: /^ {2}- timeouts\.scan: is 400d: at most 1d/m,
  },
  { name: 'an infinite timeout', make: () => edited('timeout-inf', 'build: 5m', 'build: .inf'), names: /^ {2}- timeouts\.build: expected a duration/m },

  // The work directory the run removes <workDir>/<run-id> from
  {
    name: 'flake.workDir /',
    make: () => variant('workdir-root', (p) => (p.flake.workDir = '/')),
    names: /^ {2}- flake\.workDir: must not be \/: the run makes and removes <workDir>\/<run-id> there/m,
    cli: true,
  },
  {
    name: 'flake.workDir ..',
    make: () => variant('workdir-dotdot', (p) => (p.flake.workDir = '..')),
    names: /^ {2}- flake\.workDir: expected an absolute path/m,
  },
  {
    name: 'a relative flake.workDir',
    make: () => variant('workdir-relative', (p) => (p.flake.workDir = 'acceptance')),
    names: /^ {2}- flake\.workDir: expected an absolute path/m,
  },
  {
    name: 'a flake.workDir with .. components',
    make: () => variant('workdir-up', (p) => (p.flake.workDir = '/root/../..')),
    names: /^ {2}- flake\.workDir: must not hold a \.\. component/m,
  },
  {
    name: 'a flake.workDir with a space',
    make: () => variant('workdir-space', (p) => (p.flake.workDir = '/root/my runs')),
    names: /^ {2}- flake\.workDir: expected an absolute path of letters, digits/m,
  },
  {
    name: 'a flake.workDir with $(…)',
    make: () => variant('workdir-subst', (p) => (p.flake.workDir = '/root/$(reboot)')),
    names: /^ {2}- flake\.workDir: expected an absolute path of letters, digits/m,
  },

  // Names and paths that reach commands
  {
    name: 'a repo branch starting with - (a git option)',
    make: () => variant('branch-option', (p) => (p.repos.base.branch = '--upload-pack=touch /tmp/owned')),
    names: /^ {2}- repos\.base\.branch: must not start with - \(git would read it as an option\)/m,
    cli: true,
  },
  {
    name: 'a repo branch with ; and spaces',
    make: () => variant('branch-semicolon', (p) => (p.repos.base.branch = 'main; rm -rf /')),
    names: /^ {2}- repos\.base\.branch: expected a branch name/m,
  },
  {
    name: 'a repo branch with a newline',
    make: () => variant('branch-newline', (p) => (p.repos.base.branch = 'main\nreboot')),
    names: /^ {2}- repos\.base\.branch: expected a branch name/m,
  },
  {
    name: 'a non-ASCII repo branch',
    make: () => variant('branch-unicode', (p) => (p.repos.base.branch = 'maïn')),
    names: /^ {2}- repos\.base\.branch: expected a branch name/m,
  },
  {
    name: 'a repo branch with ..',
    make: () => variant('branch-dotdot', (p) => (p.repos.base.branch = 'main..other')),
    names: /^ {2}- repos\.base\.branch: is not a branch name git allows/m,
  },
  {
    name: 'a repo URL starting with - (a git option)',
    make: () => variant('url-option', (p) => (p.repos.base.url = '--upload-pack=touch /tmp/owned')),
    names: /^ {2}- repos\.base\.url: must not start with - \(git would read it as an option\)/m,
  },
  {
    name: 'a git remote-helper URL (ext::)',
    make: () => variant('url-ext', (p) => (p.repos.secrets.url = 'ext::sh -c touch% /tmp/owned')),
    names: /^ {2}- repos\.secrets\.url: is a git remote-helper address/m,
  },
  {
    name: 'a repo URL with backticks',
    make: () => variant('url-backticks', (p) => (p.repos.secrets.url = 'ssh://root@forge/srv/`reboot`.git')),
    names: /^ {2}- repos\.secrets\.url: expected a URL of letters/m,
  },
  {
    name: 'a repo URL holding a password',
    make: () => variant('url-password', (p) => (p.repos.base.url = 'https://bot:hunter2@forge/srv/git/cc-ci.git')),
    names: /^ {2}- repos\.base\.url: holds a password/m,
  },
  {
    name: 'an instance name with ; and a backtick',
    make: () => variant('instance-shell', (p) => (p.incus.liveInstance = 'cc;`reboot`')),
    names: /^ {2}- incus\.liveInstance: expected an Incus instance name/m,
  },
  {
    name: 'a non-ASCII instance name',
    make: () => variant('instance-unicode', (p) => (p.incus.liveInstance = 'cc-nix-tést')),
    names: /^ {2}- incus\.liveInstance: expected an Incus instance name/m,
  },
  {
    name: 'an Incus project with a space and a quote',
    make: () => variant('project-quote', (p) => (p.incus.project = "terraform ci'")),
    names: /^ {2}- incus\.project: expected an Incus project name/m,
  },
  {
    name: 'a host name with a space and quotes',
    make: () => variant('host-quotes', (p) => (p.hosts['"cc ci"'] = { transport: 'local' })),
    names: /^ {2}- hosts\."\\"cc ci\\"": as a name: expected a host name/m,
  },
  {
    name: 'a role naming a host with $(…)',
    make: () => variant('role-subst', (p) => (p.roles.live = '$(reboot)')),
    names: /^ {2}- roles\.live: expected a host name/m,
  },
  {
    name: 'a jump host named constructor (an Object property)',
    make: () => variant('jump-constructor', (p) => (p.hosts.forge.jump = 'constructor')),
    names: /^ {2}- hosts\.forge\.jump: names host "constructor", which is not under hosts/m,
  },
  {
    name: 'a NixOS configuration name that closes a quote',
    make: () => variant('configuration-quote', (p) => (p.flake.configuration = "cc-ci' ; reboot ; '")),
    names: /^ {2}- flake\.configuration: expected a NixOS configuration name/m,
  },
  {
    name: 'an ssh user with ;',
    make: () => variant('user-shell', (p) => (p.hosts['cc-ci'].user = 'root; reboot')),
    names: /^ {2}- hosts\.cc-ci\.user: expected a user name/m,
  },
  {
    name: 'a key file path with a newline',
    make: () => variant('keyfile-newline', (p) => (p.secrets.keyFile = '/var/lib/sops-nix/key.txt\nreboot')),
    names: /^ {2}- secrets\.keyFile: expected an absolute path of letters/m,
  },
  {
    name: 'a non-ASCII key-scan path',
    make: () => variant('keyscan-unicode', (p) => (p.secrets.keyScan.paths[0] = '/röot')),
    names: /^ {2}- secrets\.keyScan\.paths\.0: expected an absolute path of letters/m,
  },
  {
    name: 'a clone-credential path with ;',
    make: () => variant('credential-path', (p) => (p.throwaway.cloneCredentials[0].path = '/root/.ssh/id;reboot')),
    names: /^ {2}- throwaway\.cloneCredentials\.0\.path: expected an absolute path of letters/m,
  },
  {
    name: 'a docs path that climbs out of the repo',
    make: () => variant('docs-dotdot', (p) => (p.docs = { install: '../../etc/passwd' })),
    names: /^ {2}- docs\.install: must not hold a \.\. component/m,
  },
  {
    name: 'an absolute secrets file',
    make: () => variant('secrets-absolute', (p) => (p.secrets.file = '/etc/shadow')),
    names: /^ {2}- secrets\.file: expected a path relative to the repo/m,
  },
  {
    name: 'a placeholder value with $(…)',
    make: () => variant('placeholder-subst', (p) => (p.throwaway.placeholders = { '<host>': '$(reboot)' })),
    names: /^ {2}- throwaway\.placeholders\.<host>: expected one word/m,
  },
  {
    name: 'a tool whose program is an option',
    make: () => variant('tool-option', (p) => (p.tools = { sops: ['--version'] })),
    names: /^ {2}- tools\.sops\.0: expected a program name or path/m,
  },
  {
    name: 'a private key path with quotes and $',
    make: () => variant('key-quotes', (p) => (p.hosts.forge.auth.privateKey.file = '/root/"$HOME"/id')),
    names: /^ {2}- hosts\.forge\.auth\.privateKey\.file: must not hold quotes, \$/m,
  },
  {
    name: 'a throwaway name prefix too long for an instance name',
    make: () => variant('prefix-long', (p) => (p.throwaway.namePrefix = 'a'.repeat(50))),
    names: /^ {2}- throwaway\.namePrefix: at most 42 characters/m,
  },
  {
    name: 'a Gitea repo that climbs (../..)',
    make: () => variant('repo-dotdot', (p) => (p.e2e.gitea.repo = '../..')),
    names: /^ {2}- e2e\.gitea\.repo: expected OWNER\/NAME/m,
  },

  // Environment references
  {
    name: 'a reference to an undefined variable (${NOPE})',
    make: () => edited('env-nope', '"${LAB_DIR}/runner/known_hosts"', '"${NOPE}/runner/known_hosts"'),
    names: /^ {2}- hosts\.forge\.hostKey\.knownHosts: \$\{NOPE\} is not defined/m,
    cli: true,
  },
  {
    name: 'a reference the loader cannot expand (${lab_dir})',
    make: () => edited('env-lowercase', '"${LAB_DIR}/keys/recovery-age.txt"', '"${lab_dir}/keys/recovery-age.txt"'),
    names: /^ {2}- throwaway\.recoveryKey\.file: holds \$\{ that is no reference/m,
  },

  // Host keys
  {
    name: 'a known_hosts file that is not one',
    make: () => variant('kh-garbage', (p) => (p.hosts.forge.hostKey = { knownHosts: aux('known_hosts-garbage', 'this is not\na known_hosts file\n') })),
    names: /^ {2}- hosts\.forge\.hostKey\.knownHosts: \S+ is not a known_hosts file: none of its 2 line\(s\) is HOST KEYTYPE BASE64-KEY/m,
    cli: true,
  },
  {
    name: 'a known_hosts line whose key is not of its type',
    make: () =>
      variant(
        'kh-mismatch',
        (p) => (p.hosts.forge.hostKey = { knownHosts: aux('known_hosts-mismatch', `127.0.10.2 ssh-ed25519 ${keyBlob('ssh-rsa').toString('base64')}\n`) }),
      ),
    names: /^ {2}- hosts\.forge\.hostKey\.knownHosts: \S+ is not a known_hosts file/m,
  },
  {
    name: 'a known_hosts that is a directory',
    make: () => variant('kh-dir', (p) => (p.hosts.forge.hostKey = { knownHosts: dir })),
    names: /^ {2}- hosts\.forge\.hostKey\.knownHosts: \S+ is a directory, not a known_hosts file/m,
  },
  {
    name: 'a fingerprint of 42 characters',
    make: () => variant('fp-short', (p) => (p.hosts.forge.hostKey = { fingerprint: `SHA256:${'A'.repeat(42)}` })),
    names: /^ {2}- hosts\.forge\.hostKey\.fingerprint: expected an OpenSSH fingerprint .*\(43 base64 characters\)/m,
  },
  {
    name: 'a fingerprint of 44 characters',
    make: () => variant('fp-long', (p) => (p.hosts.forge.hostKey = { fingerprint: `SHA256:${'A'.repeat(44)}` })),
    names: /^ {2}- hosts\.forge\.hostKey\.fingerprint: expected an OpenSSH fingerprint/m,
  },
  {
    name: 'a fingerprint of 43 characters that are not 32 bytes',
    make: () => variant('fp-bits', (p) => (p.hosts.forge.hostKey = { fingerprint: `SHA256:${'A'.repeat(42)}B` })),
    names: /^ {2}- hosts\.forge\.hostKey\.fingerprint: is not a SHA-256 fingerprint/m,
  },
  {
    name: 'an MD5 fingerprint',
    make: () => variant('fp-md5', (p) => (p.hosts.forge.hostKey = { fingerprint: 'MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48' })),
    names: /^ {2}- hosts\.forge\.hostKey\.fingerprint: expected an OpenSSH fingerprint/m,
  },

  // Ports and addresses
  {
    name: 'port 0',
    make: () => variant('port-zero', (p) => (p.hosts['cc-ci'].port = 0)),
    names: /^ {2}- hosts\.cc-ci\.port: expected a port from 1 to 65535/m,
  },
  {
    name: 'port 65536',
    make: () => variant('port-high', (p) => (p.tls.connect.port = 65536)),
    names: /^ {2}- tls\.connect\.port: expected a port from 1 to 65535/m,
  },
  {
    name: 'a fractional port',
    make: () => variant('port-fraction', (p) => (p.e2e.gateway.port = 443.5)),
    names: /^ {2}- e2e\.gateway\.port: expected a whole number/m,
  },
  {
    name: 'an address that is words',
    make: () => variant('address-words', (p) => (p.hosts.forge.address = 'not an address')),
    names: /^ {2}- hosts\.forge\.address: is not an address/m,
  },
  {
    name: 'an IPv4 address with 999 in it',
    make: () => variant('address-999', (p) => (p.tls.connect.address = '999.1.1.1')),
    names: /^ {2}- tls\.connect\.address: is not an address: .*\(999\.1\.1\.1 is no IPv4 address\)/m,
  },
  {
    name: 'an address that is an ssh option',
    make: () => variant('address-option', (p) => (p.hosts.builder.address = '-oProxyCommand=touch /tmp/owned')),
    names: /^ {2}- hosts\.builder\.address: is not an address/m,
  },
  {
    name: 'an address with $(…)',
    make: () => variant('address-subst', (p) => (p.e2e.gateway.address = '$(curl evil)')),
    names: /^ {2}- e2e\.gateway\.address: is not an address/m,
  },
  {
    name: 'a gateway pin that is no IP address',
    make: () => variant('expect-name', (p) => (p.e2e.gateway.expect = ['gateway.example'])),
    names: /^ {2}- e2e\.gateway\.expect\.0: expected an IPv4 or IPv6 address/m,
  },
  {
    name: 'a forge URL that is a file: URL',
    make: () => variant('url-file', (p) => (p.e2e.gitea.url = 'file:///etc/passwd')),
    names: /^ {2}- e2e\.gitea\.url: expected an http:\/\/ or https:\/\/ URL/m,
  },
  {
    name: 'a Drone URL holding a token',
    make: () => variant('url-token', (p) => (p.e2e.drone.url = 'https://acceptance:s3cret@drone.example')),
    names: /^ {2}- e2e\.drone\.url: holds a user or password/m,
  },
  {
    name: 'a domain with capitals and a space',
    make: () => variant('domain-space', (p) => (p.domain = 'CI lab.test')),
    names: /^ {2}- domain: expected a DNS name/m,
  },
  {
    name: 'a memory size of zero',
    make: () => variant('memory-zero', (p) => (p.throwaway.memory = '0GiB')),
    names: /^ {2}- throwaway\.memory: expected a size such as 4GiB/m,
  },
];

const viaCli = CASES.filter((c) => c.cli).length;

test(`the corpus has at least 30 hostile profiles, 8 of them run through the CLI (it has ${CASES.length}, ${viaCli}), as the README says`, () => {
  assert.ok(CASES.length >= 30);
  assert.ok(viaCli >= 8);
  assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length, 'case names are unique');
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  assert.match(readme, new RegExp(`\`npm test\` tries ${CASES.length} hostile profiles .*?, ${viaCli} of them through the CLI`));
});

/** The UsageError loadProfile throws for a case, checked to name the file and the field. */
function refusal(c: Case, file: string): UsageError {
  const started = process.hrtime.bigint();
  let error: unknown;
  try {
    loadProfile(file, { LAB_DIR: '/lab' });
  } catch (e) {
    error = e;
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(error instanceof UsageError, `${c.name}: expected a UsageError, got ${error instanceof Error ? error.stack : 'no error: the profile loaded'}`);
  assert.ok(error.message.startsWith(`profile ${file} is invalid:\n`), `${c.name}: names the file:\n${error.message}`);
  assert.match(error.message, c.names, `${c.name}: names the field`);
  assert.ok(ms < 2_000, `${c.name}: refused in ${ms} ms, not within 2 s`);
  return error;
}

for (const c of CASES) {
  test(`loadProfile refuses ${c.name} with a UsageError naming the file and the field`, () => {
    refusal(c, c.make());
  });
}

const labEntries = () => (existsSync(LAB_ROOT) ? readdirSync(LAB_ROOT).sort() : []);

/**
 * Every address and port the lab profile names, listened on while the CLI refuses the hostile
 * profiles (variants of it): a run that contacted any of its hosts would be counted here.
 */
const WATCHED: [string, number][] = [
  ['127.0.10.2', 22],
  ['127.0.10.3', 22],
  ['127.0.10.4', 22],
  ['127.0.10.5', 22],
  ['127.0.10.2', 3000],
  ['127.0.10.3', 8080],
  ['127.0.10.3', 443],
  ['127.0.10.5', 443],
];
const watchers: Server[] = [];
let contacts = 0;
before(async () => {
  for (const [host, port] of WATCHED) {
    const server = createServer((socket) => {
      contacts++;
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
    watchers.push(server);
  }
  // Each watcher counts a connection (proven once here), then the count starts from zero.
  for (const [host, port] of WATCHED)
    await new Promise<void>((resolve) =>
      connect(port, host)
        .once('close', () => resolve())
        .once('error', () => resolve()),
    );
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(contacts, WATCHED.length, 'every watcher counts a connection');
  contacts = 0;
});
after(() => {
  for (const w of watchers) w.close();
});

for (const c of CASES.filter((c) => c.cli)) {
  test(`the CLI refuses ${c.name}: exit 2, error: naming the field, no lab, no report`, async (t) => {
    const file = c.make();
    // Only a profile the loader refuses goes to the CLI: one it accepted would start a lab.
    refusal(c, file);
    const reports = tempDir('hostile-reports-');
    const labBefore = labEntries();
    const started = Date.now();
    const r = await execa(
      process.execPath,
      [
        '--disable-warning=ExperimentalWarning',
        '-r',
        join(PROJECT_ROOT, 'scripts', 'register.cjs'),
        'bin/acceptance.ts',
        '--reports',
        reports,
        '--profile',
        file,
      ],
      { cwd: PROJECT_ROOT, reject: false, timeout: 60_000, env: { FORCE_COLOR: '0' } },
    );
    const seconds = (Date.now() - started) / 1000;
    t.diagnostic(`refused in ${seconds.toFixed(2)} s of wall time`);
    try {
      assert.equal(r.exitCode, 2, `${c.name}: exit code\n${r.stderr}`);
      assert.ok(
        r.stderr.startsWith(`error: profile ${file} is invalid:\n`),
        `${c.name}: stderr starts with error: and names the file:\n${r.stderr.slice(0, 2000)}`,
      );
      assert.match(r.stderr, c.names);
      assert.doesNotMatch(`${r.stdout}\n${r.stderr}`, /^run \d{8}-|lab: starting/m, 'no run was started');
      assert.ok(seconds < 10, `${c.name}: refused in ${seconds} s (a hang guard; the time is measured, not judged, here)`);
      assert.deepEqual(labEntries(), labBefore, 'no .lab/ entry was made');
      assert.deepEqual(readdirSync(reports), [], 'no report folder was written');
      assert.equal(contacts, 0, `no connection reached any of the lab profile's ${WATCHED.length} addresses and ports`);
    } finally {
      rmSync(reports, { recursive: true, force: true });
    }
  });
}
