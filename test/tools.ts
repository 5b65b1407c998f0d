// What a test does when a tool it needs (Chromium, Prometheus, k6, docker-compose, nginx) is
// not on this machine. On a developer's machine it skips and says why, loudly, because a
// silent skip reads as a pass. Under CI=true it fails: .ci/run installs every tool, so a
// missing one means CI no longer tests what it says it tests.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

/** True when the tool is missing and the test was skipped: the caller returns. */
export function missingTool(t: TestContext, found: unknown, reason: string): boolean {
  if (found) return false;
  if (process.env.CI === 'true')
    assert.fail(`${reason}; with CI=true a missing tool fails the test (.ci/run installs it)`);
  console.error(`SKIP: ${reason}`);
  t.skip(reason);
  return true;
}
