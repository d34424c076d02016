@C6
Feature: C6 Resource fit and cleanup
  cc-nix-test runs at 4 GiB (it was 6), the throwaway is made at 4 GiB, no throwaway is left
  after the test unless the operator keeps it, and DECISIONS.md records the final sizing.

  @c6-live-size
  Scenario: cc-nix-test is sized at 4 GiB
    Then the live instance's limits.memory is "4GiB"

  @c6-throwaway-size @mutating
  Scenario: The throwaway VM is made at 4 GiB
    Given a blank throwaway VM in the profile's Incus project, labelled by this run
    Then the throwaway VM's limits.memory is "4GiB"

  @c6-decisions
  Scenario: DECISIONS.md records the final sizing
    Then DECISIONS.md in the base repo says all of:
      | what                 | pattern                              |
      | cc-nix-test at 4 GiB | cc-nix-test[^\n;]*\b4 ?Gi?B          |
      | throwaway at 4 GiB   | throwaway[^\n;]*\b4 ?Gi?B            |

  @c6-no-leftovers
  Scenario: No throwaway is left behind
    When this run is done with its throwaway VMs
    Then no instance is left in the project but the live one and those the operator keeps
