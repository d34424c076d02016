// sops' exit codes (cmd/sops/codes), the subset the lab's sops stand-in and sops-install-secrets
// raise; a SopsError without one exits with `generic`.
/** sops' own exit codes (cmd/sops/codes). */
export const SopsExit = {
  generic: 1,
  couldNotReadInputFile: 2,
  errorDumpingTree: 4,
  errorDecryptingTree: 25,
  macMismatch: 51,
  invalidTreePathFormat: 91,
  noFileSpecified: 100,
  couldNotRetrieveKey: 128,
} as const;
