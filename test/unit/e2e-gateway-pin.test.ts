import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gatewayElsewhere } from '../../src/checks/e2e';

// The gateway pin (e2e.gateway.expect): the answer counts only if the gateway's name resolved
// to a pinned address; the lab reaches its gateway by address and has no DNS to point elsewhere.

test('a pinned gateway: the answer counts only from a pinned address, and an unseen resolution is not trusted', () => {
  const pins = ['203.0.113.7', '2001:db8::7'];
  assert.equal(gatewayElsewhere(pins, { address: 'ci.example.net', resolved: '203.0.113.7' }), undefined);
  assert.equal(gatewayElsewhere(pins, { address: 'ci.example.net', resolved: '2001:db8::7' }), undefined);
  assert.equal(
    gatewayElsewhere(pins, { address: 'ci.example.net', resolved: '198.51.100.9' }),
    'ci.example.net resolved to 198.51.100.9, not to the pinned gateway (203.0.113.7, 2001:db8::7)',
  );
  assert.match(gatewayElsewhere(pins, { address: 'ci.example.net' }) ?? '', /resolved to was not seen/);
});

test('no pin: wherever the name resolved, the address is recorded but not judged', () => {
  assert.equal(gatewayElsewhere(undefined, { address: 'ci.example.net', resolved: '198.51.100.9' }), undefined);
  assert.equal(gatewayElsewhere([], { address: 'ci.example.net' }), undefined);
});
