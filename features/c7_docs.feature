@C7
Feature: C7 Docs
  docs/install.md, docs/secrets.md and docs/architecture.md describe the new model: clone the
  base repo with its secrets submodule, provision the age key, one nixos-rebuild switch; the
  secrets repo; the recovery key. None describes a retired step.

  @c7-install
  Scenario: docs/install.md describes the new install
    Then "docs/install.md" in the base repo says all of:
      | what                                  | pattern                                            |
      | clone with the submodule              | git clone --recursive                              |
      | provision the age key                 | /var/lib/sops-nix/key\.txt                          |
      | the recovery key                      | recovery key                                       |
      | one rebuild, with submodules          | nixos-rebuild switch --flake '?git\+file://[^ ]*\?submodules=1 |

  @c7-secrets
  Scenario: docs/secrets.md describes the secrets repo and the recovery key
    Then "docs/secrets.md" in the base repo says all of:
      | what                                  | pattern                        |
      | the secrets repo                      | cc-ci-secrets                  |
      | a submodule at secrets/               | submodule                      |
      | sops with age                         | sops[\s\S]*age                 |
      | the recovery key                      | recovery key                   |
      | the cert is a secret                  | wildcard_cert                  |

  @c7-architecture
  Scenario: docs/architecture.md describes the new model
    Then "docs/architecture.md" in the base repo says all of:
      | what                                  | pattern                        |
      | the secrets repo as a submodule       | submodule                      |
      | builds with submodules                | submodules=1                   |
      | the gateway passes TLS through        | gateway                        |

  @c7-no-retired-steps
  Scenario: No doc describes a retired step
    Then none of "docs/install.md", "docs/secrets.md", "docs/architecture.md" says any of:
      | what                                        | pattern                                                                                                                       |
      | a command that places a cert file by hand   | \b(?:cp\|mv\|rsync\|scp\|tee\|install(?=\s+-))\s+(?:\S+\s+){0,6}?\S*(fullchain\|privkey)\.pem |
      | a cert file written by hand                 | >\s*\S*(fullchain\|privkey)\.pem                                                                                                |
      | an operator told to copy a cert by hand     | (^\|[.:;!?]\s\|\d\.\s\|[-*]\s)(?:then\s\|now\s\|next\s\|also\s)?(copy\|drop\|place\|put\|upload\|transfer)\s(?:[^.!?]\|[.!?](?=\S)){0,60}(fullchain\|privkey)\.pem(?:[^.!?]\|[.!?](?=\S)){0,60}\b(to\|into\|in\|on)\b |
      | a cert fetched out of band                  | (out[- ]of[- ]band)[^.]{0,60}cert                                                                                               |
      | secrets kept outside git                    | secrets[^.]{0,30}not in git                                                                                                     |
