@C5
Feature: C5 Honest D8
  The D8 ("reproducible server") evidence says static byte-identical and live rebuild, no longer
  "infeasible by design", and points at a run of this harness whose C4 passed.

  @c5-d8-says
  Scenario: The D8 evidence claims what was shown, and no more
    Then the D8 evidence in the base repo says all of:
      | what                  | pattern                      |
      | static byte-identical | byte[- ]identical            |
      | live rebuild          | live rebuild                 |
    And it says none of:
      | what                  | pattern                      |
      | infeasible by design  | infeasible by design         |

  @c5-d8-run
  Scenario: The D8 evidence points at a passing run of this harness
    Then the D8 evidence points at a run of this harness, attached to the base repo, whose C4 passed
