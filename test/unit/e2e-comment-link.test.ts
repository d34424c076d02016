import assert from 'node:assert/strict';
import { test } from 'node:test';
import { linksTo } from '../../src/checks/e2e';
import { buildPage } from '../../src/drivers/drone';

// The E2E's final comment must link the build's page, {server}/{owner}/{repo}/{number}
// (../shared/reference/drone.md): the page of build 1 is a prefix of build 12's, and of build 1's
// stage and step pages, so the link is matched with a boundary after the number.

const page = buildPage('https://drone.ci.lab.test', 'recipe-maintainers/cc-ci', 1);

test('the page of build 1, linked as a comment would: plain, in markdown, in angle brackets, at the end of a sentence, with a query or fragment', () => {
  assert.equal(page, 'https://drone.ci.lab.test/recipe-maintainers/cc-ci/1');
  for (const body of [
    page,
    `✅ passed: ${page}`,
    `[build #1](${page})`,
    `<${page}>`,
    `see ${page}.`,
    `see ${page}, then`,
    `"${page}"`,
    `${page}\nnext line`,
    `${page}?tab=logs`,
    `${page}#L12`,
  ]) {
    assert.equal(linksTo(body, page), true, body);
  }
});

test('a link to build 12, 10 or 1x, or to a page under build 1, is not a link to build 1', () => {
  for (const body of [
    `✅ passed: ${page}2`,
    `[build #12](${page}2)`,
    `${page}0 and ${page}9`,
    `${page}/1/2`,
    `${page}-retry`,
    `${page}_x`,
    `${page}%20`,
    'https://drone.ci.lab.test/recipe-maintainers/cc-ci/2',
    'no link at all',
  ]) {
    assert.equal(linksTo(body, page), false, body);
  }
  assert.equal(linksTo(`${page}2 and then ${page})`, page), true, 'build 12 and build 1 both linked');
});

test("the page's own characters are literal: a dot in the server's name matches only a dot", () => {
  assert.equal(linksTo('https://droneXci.lab.test/recipe-maintainers/cc-ci/1', page), false);
  const odd = buildPage('https://ci.example.net/drone+x/', 'o/r', 3);
  assert.equal(linksTo(`see ${odd}`, odd), true);
  assert.equal(linksTo('see https://ci.example.net/droneex/o/r/3', odd), false);
});
