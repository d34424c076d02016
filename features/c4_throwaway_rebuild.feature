@C4 @mutating
Feature: C4 Throwaway live rebuild
  A blank VM in the Incus project, given only the recovery key (and the credentials to clone),
  follows docs/install.md: git clone --recursive, then ONE nixos-rebuild switch. It must end
  running with no failed unit, on the live host's toplevel, with every stack up, every secret
  and the certificate decrypted with the recovery key, and the git cert served on 443.

  Background:
    Given a blank throwaway VM in the profile's Incus project, labelled by this run

  @c4-nothing-else
  Scenario: Only the recovery key and the clone credentials are provisioned
    Then before provisioning, the VM held nothing beyond its image
    And Incus hands the VM nothing of its own: no cloud-init or user-data, no environment variables, no device but its network and root disk
    And the provisioning ledger holds only the recovery key at /var/lib/sops-nix/key.txt, mode 0600, and the profile's clone credentials

  @c4-running
  Scenario: One nixos-rebuild switch, as docs/install.md says, brings the VM up
    When the install steps of docs/install.md run on the VM, with exactly one nixos-rebuild switch
    Then within the deadline the VM is running with no failed unit, and stays so for the stable window

  @c4-toplevel
  Scenario: The VM runs the live host's system
    Given the install steps of docs/install.md have run on the VM
    Then the VM's toplevel equals the live host's current system

  @c4-stacks
  Scenario: Every stack is up on the VM
    Given the install steps of docs/install.md have run on the VM
    Then every Swarm service on the VM runs at its desired replicas, and the stacks number the profile's count

  @c4-secrets
  Scenario: Every secret is decrypted with the recovery key
    Given the install steps of docs/install.md have run on the VM
    Then every secret in the secrets file is under /run/secrets on the VM, in memory, mode 0400, owned by root

  @c4-tls
  Scenario: The VM serves the cert from git
    Given the install steps of docs/install.md have run on the VM
    Then the leaf the VM serves on its own 127.0.0.1:443 for the dashboard is the cert decrypted from git
