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

  # The docs are read as text, whitespace collapsed and case folded (normalised, in
  # src/checks/doc-text.ts), so a line's start reads as a clause's. A command that places a cert
  # file: cp, mv, install, rsync or scp (the cert named after another argument), tee, cat >,
  # dd of=, with sudo or not, at the start of the doc, a clause or a list item, in a code span or
  # fence, after a $ or # prompt, a pipe or &&; its arguments look like a shell's (options, paths,
  # redirections) and one names fullchain.pem, privkey.pem or the cert directory, /var/lib/ci-certs.
  @c7-no-retired-steps
  Scenario: No doc describes a retired step
    Then none of "docs/install.md", "docs/secrets.md", "docs/architecture.md" says any of:
      | what                                      | pattern                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                               |
      | a command that places a cert file by hand | (?=(?:sudo\|cp\|mv\|install\|rsync\|scp\|tee\|cat\|dd)\s)(?<=^\s?\|[.:;!?]\s\|\d\.\s\|[-*+]\s\|`\|[$#]\s\|\\\|\s\|&&\s\|^(?:(?:(?!```).)*```(?:(?!```).)*```)*(?:(?!```).)*```(?:(?!```).)*\s)(?:sudo\s(?:-\S+\s)*)?(?:(?:cp\|mv\|install\|rsync\|scp)\s(?:(?:-\S+(?:\s\w+)?\|\S*[/.:*~$=@<>'"\[\]]\S*)\s){1,7}?\|tee\s(?:(?:-\S+(?:\s\w+)?\|\S*[/.:*~$=@<>'"\[\]]\S*)\s){0,7}?\|cat\s(?:(?:-\S+(?:\s\w+)?\|\S*[/.:*~$=@<>'"\[\]]\S*)\s){0,7}?>>?\s?\|dd\s(?:(?:-\S+(?:\s\w+)?\|\S*[/.:*~$=@<>'"\[\]]\S*)\s){0,7}?of=)\S*(?:(?:fullchain\|privkey)\.pem\|ci-certs)\S* |
      | a cert file written by hand               | >\s*\S*(fullchain\|privkey)\.pem                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                      |
      | an operator told to copy a cert by hand   | (^\|[.:;!?]\s\|\d\.\s\|[-*]\s)(?:then\s\|now\s\|next\s\|also\s)?(copy\|drop\|place\|put\|upload\|transfer)\s(?:[^.!?]\|[.!?](?=\S)){0,60}(fullchain\|privkey)\.pem(?:[^.!?]\|[.!?](?=\S)){0,60}\b(to\|into\|in\|on)\b                                                                                                                                                                                                                                                                                                                                                 |
      | a cert fetched out of band                | (out[- ]of[- ]band)[^.]{0,60}cert                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                     |
      | secrets kept outside git                  | secrets[^.]{0,30}not in git                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                           |
