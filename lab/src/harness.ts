// The lab's one door into the harness (src/): every lab module imports harness code from here and
// nowhere else, so this list is all the lab depends on. The harness never imports the lab; the
// command line (bin/acceptance.ts, bin/janitor.ts) starts it.

// Where the project is (the lab's assets, its runs and the stand-ins' launcher hang off it).
export { PROJECT_ROOT } from '../../src/paths';

// The errors the lab raises: a lab that cannot start, and a usage error (exit 2).
export { LabError, UsageError } from '../../src/errors';

// The wait primitive: the lab's waits (a port, a host's sshd) poll through it too.
export { poll } from '../../src/wait';

// The profile the lab is started for.
export type { Profile } from '../../src/profile/schema';

// Drivers: shell quoting for commands run on lab hosts; the harness's instance labels (the faults
// plant labelled throwaways with them) and Incus's byte units (the incus stand-in parses with them).
export { shellQuote } from '../../src/drivers/host';
export { Incus, LABEL, parseIncusBytes } from '../../src/drivers/incus';

// The C4 scenarios, which the lab's attached evidence (for C5's D8 check) lists as passed.
export { c4ScenarioTags } from '../../src/checks/c5';

// The sops file format as the harness reads it (its tree, metadata, rules and parser): the lab's
// sops (lab/src/sops/: cipher, data keys, emitters) is built on it, and the stand-ins parse with it.
export {
  ENC_RE,
  SopsError,
  TIMESTAMP,
  loadJson,
  loadYaml,
  mapNode,
  parseSopsFile,
  resolvePlain,
  rulesOf,
  shouldBeEncrypted,
  str,
  toPlain,
  walk,
  type MapNode,
  type Node,
  type ParsedSops,
  type Rules,
  type Scalar,
  type SopsFormat,
  type SopsMetadata,
  type SopsTree,
  type SopsValue,
} from '../../src/sops/format';
