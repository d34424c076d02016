@C3
Feature: C3 All secrets in git, one exception
  Every value in the secrets file is encrypted, to exactly the expected recipients; secrets are
  decrypted only into memory; no plaintext secret value appears in the base repo (all history)
  or in /nix/store; the only secret on the host that is not in git is the bootstrap age key.

  @c3-all-encrypted
  Scenario: Every value in the secrets file is encrypted
    Given the secrets file from a clean recursive clone of the base repo
    Then every value in it is encrypted, apart from keys the profile allows by name

  @c3-mac
  Scenario: The secrets file carries a MAC that verifies
    Given the secrets file from a clean recursive clone of the base repo
    Then its sops block has a MAC that verifies on a host that holds a key

  @c3-recipients
  Scenario: The secrets file is encrypted to exactly the expected recipients
    Given the secrets file from a clean recursive clone of the base repo
    Then its age recipients are exactly the profile's: the host key and the recovery key

  @c3-secrets-in-memory
  Scenario: Decrypted secrets live in memory only, readable by root only
    Then on the live host /run/secrets is on tmpfs or ramfs and holds every secret, mode 0400, owned by root

  @c3-key-file
  Scenario: The bootstrap key is the one declared, and kept private
    Then the base repo declares sops.age.keyFile as the bootstrap key, which the live host holds with mode 0600

  @c3-no-stray-keys
  Scenario: No other private key material lies on the live host
    Then the live host holds no private key material outside /run/secrets and the bootstrap key, apart from the profile's expected keys

  @c3-no-plaintext-in-repo
  Scenario: No plaintext secret value in the base repo or its history
    Given the secrets file from a clean recursive clone of the base repo
    When a host that holds a key searches every commit on every ref of the base repo, and the live checkout, for every secret's plaintext
    Then no secret's plaintext is found

  @c3-no-plaintext-in-store
  Scenario: No plaintext secret value in the Nix store
    Given the secrets file from a clean recursive clone of the base repo
    When a host that holds a key searches /nix/store for every secret's plaintext
    Then no secret's plaintext is found
