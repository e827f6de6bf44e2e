/**
 * Structured logs: every request's lines carry its correlation id, and no password, client secret, access
 * token or refresh token reaches a log line, at the most verbose level.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { PartnerCenterAudience } from '@partnerkit/contract';
import { DEMO, DEMO_IDS, startTestService } from './testing/harness.js';

test('log lines carry the correlation id and never a password, secret or token, even at trace level', async () => {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const svc = await startTestService({ logger: { level: 'trace', stream } });
  try {
    // A password grant with offline_access (access and refresh tokens come back).
    const form = new URLSearchParams({
      grant_type: 'password', client_id: DEMO.clientId, client_secret: DEMO.clientSecret, username: DEMO.username,
      password: DEMO.password, scope: `${PartnerCenterAudience}/user_impersonation offline_access`,
    });
    const tokenRes = await fetch(`${svc.baseUrl}/${DEMO.tenantId}/oauth2/v2.0/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(),
    });
    const tokens = (await tokenRes.json()) as { access_token: string; refresh_token: string };
    assert.equal(tokenRes.status, 200);
    // A failed sign-in with a wrong password.
    const wrongPassword = `Wrong-${randomUUID()}`;
    await fetch(`${svc.baseUrl}/${DEMO.tenantId}/oauth2/v2.0/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...Object.fromEntries(form), password: wrongPassword }).toString(),
    });
    // A password reset and a create carry passwords in their bodies.
    const correlationId = randomUUID();
    const newPassword = `Reset-${randomUUID()}-Aa1!`;
    const reset = await svc.call('PATCH', `/v1/customers/${DEMO.customerId}/users/${DEMO.userId}`, {
      token: tokens.access_token, headers: { 'MS-CorrelationId': correlationId },
      body: { passwordProfile: { password: newPassword, forceChangePassword: true } },
    });
    assert.equal(reset.status, 200, reset.text);
    const createPassword = `Create-${randomUUID()}-Aa1!`;
    const created = await svc.call('POST', `/v1/customers/${DEMO.customerId}/users`, {
      token: tokens.access_token,
      body: { userPrincipalName: `log.${randomUUID().slice(0, 8)}@fabrikam.example`, displayName: 'Log Test', passwordProfile: { password: createPassword } },
    });
    assert.equal(created.status, 201, created.text);
    // A refused request with a bad token.
    await svc.call('GET', `/v1/customers/${DEMO_IDS.fabrikam.customerId}`, { token: `${tokens.access_token}x` });

    const text = lines.join('\n');
    assert.ok(lines.length > 10, 'the service logged');
    for (const secret of [DEMO.password, DEMO.clientSecret, wrongPassword, newPassword, createPassword, tokens.access_token, tokens.refresh_token]) {
      assert.ok(!text.includes(secret), 'a secret reached the logs');
    }
    // The access token's signature alone must not appear either.
    assert.ok(!text.includes(tokens.access_token.split('.')[2] ?? 'unreachable'));
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `not a JSON log line: ${l}`);
    const ofReset = lines.map((l) => JSON.parse(l) as { correlationId?: string; msg?: string }).filter((l) => l.correlationId === correlationId);
    assert.ok(ofReset.some((l) => l.msg === 'incoming request'), 'the request line carries the correlation id');
    assert.ok(ofReset.some((l) => l.msg === 'request completed'), 'the completion line carries the correlation id');
  } finally {
    await svc.close();
  }
});
