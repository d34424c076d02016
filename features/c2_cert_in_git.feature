@C2
Feature: C2 Cert in git
  The wildcard cert and its key are sops secrets in the secrets repo, decrypted at activation to
  /var/lib/ci-certs/live (symlinks into /run/secrets). The cert decrypted from git, the file on
  disk and the leaf served on 443 for the dashboard are one certificate, and its chain verifies.

  @c2-cert-in-sops
  Scenario: The wildcard cert and key are encrypted secrets in git
    Given the secrets file from a clean recursive clone of the base repo
    Then it holds "wildcard_cert" and "wildcard_key", encrypted

  @c2-cert-links
  Scenario: On the live host, the cert files are symlinks into /run/secrets
    Then on the live host "/var/lib/ci-certs/live/fullchain.pem" is a symlink into /run/secrets
    And on the live host "/var/lib/ci-certs/live/privkey.pem" is a symlink into /run/secrets

  @c2-one-cert
  Scenario: Git, disk and port 443 hold one certificate
    Given the secrets file from a clean recursive clone of the base repo
    When the cert is decrypted from git on a host that holds a key, read from the live host's disk, and read from 443 for the dashboard from the runner and on the live host
    Then all four have the same SHA-256 fingerprint, and the git and disk copies are byte-identical

  @c2-chain
  Scenario: The served chain verifies
    Then the chain served on 443 for the dashboard verifies against the profile's CA bundle

  @c2-key-matches
  Scenario: The private key matches the cert
    Then on the live host the private key on disk matches the cert on disk

  @c2-validity
  Scenario: The cert is valid now, and for long enough
    Then the cert on the live host is valid now and for at least the profile's minimum days
