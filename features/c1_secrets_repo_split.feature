@C1
Feature: C1 Secrets-repo split
  The secrets live only in the private secrets repo, which the base repo carries as a git
  submodule at secrets/. A clean recursive clone of the base repo, built with ?submodules=1,
  gives a toplevel byte-identical to the one the live host runs.

  @c1-gitlink
  Scenario: The base repo records secrets/ as a submodule
    Given the base repo, mirrored with all its refs on the build host
    Then the base repo records "secrets" as a gitlink, a submodule commit

  @c1-gitmodules-url
  Scenario: .gitmodules points secrets/ at the secrets repo
    Given the base repo, mirrored with all its refs on the build host
    Then .gitmodules maps "secrets" to the secrets repo's URL

  @c1-no-secrets-file
  Scenario: The base repo holds no secrets file, in its tree or anywhere in its history
    Given the base repo, mirrored with all its refs on the build host
    Then no commit on any ref of the base repo has a file named "secrets.yaml", a file carrying sops metadata, or a file under "secrets/"

  @c1-clone-populates
  Scenario: A clean recursive clone populates secrets/
    When the build host makes a clean recursive clone of the base repo
    Then the clone has "secrets/secrets.yaml"
    And the clone's "secrets" is checked out at the commit its gitlink records

  @c1-toplevel-identical
  Scenario: The clean clone rebuilds the live host's system, byte for byte
    Given the build host has a clean recursive clone of the base repo
    When the build host runs "nixos-rebuild build --flake 'git+file://<clone>?submodules=1#cc-ci'"
    Then the toplevel it built is byte-identical to the live host's "readlink -f /run/current-system"
