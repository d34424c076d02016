@e2e @mutating
Feature: E2E A real !testme, end to end over the public domain
  The bot posts `!testme` on a PR of an enrolled recipe. The comment-bridge picks it up and
  starts a Drone build; the status cc-ci/testme goes pending with the build's URL; the build
  deploys the recipe to a per-run subdomain that answers through the public gateway; the test
  passes; the app is undeployed; the result is reported. Comments that are not a member's
  !testme start nothing.

  @e2e-testme
  Scenario: !testme on an enrolled recipe's PR runs the whole pipeline
    When the bot posts "!testme" on the profile's PR
    Then within its deadline a new Drone build for that PR is picked up
    And the commit status "cc-ci/testme" goes pending with that build's URL
    And the app answers 200 on its per-run subdomain through the public gateway
    And while it is deployed, the app is the PR head: its services run the images of the head's compose file, and it serves the head's content
    And the build succeeds
    And afterwards the subdomain no longer answers, and no stack, service, volume or secret of the app is left on the live host
    And the final "cc-ci/testme" status is success, and a PR comment links the build

  @e2e-non-member
  Scenario: A non-member's !testme starts no build
    Given the bridge has picked up a member's "!testme" on the profile's PR in this run
    And the forge says the non-member's user is not a member of the org
    When a user outside the org posts "!testme" on the profile's PR
    Then no build starts for that PR within the quiet window

  @e2e-lookalike
  Scenario: A lookalike command starts no build
    Given the bridge has picked up a member's "!testme" on the profile's PR in this run
    When the bot posts "!testmexyz" on the profile's PR
    Then no build starts for that PR within the quiet window
