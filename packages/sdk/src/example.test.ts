/**
 * The typed example (examples/update-customer-user.ts, the C# "Customer User Update" sample) runs as a user
 * would run it: as a Node.js program configured by its environment, against the real service.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEMO, startTestService } from '@partnerkit/server/testing';
import type { CustomerUser } from './index.js';
import { clientFor } from './testing/service.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/dist/update-customer-user.js', import.meta.url));

function run(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [EXAMPLE], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('examples/update-customer-user: creates, patches (names, UPN, usage location, password), checks and deletes a user', async () => {
  assert.ok(existsSync(EXAMPLE), `build the examples first (npx tsc -b): ${EXAMPLE}`);
  const svc = await startTestService();
  try {
    const env = {
      PARTNER_CENTER_BASE_URL: svc.baseUrl,
      PARTNER_CENTER_AUTHORITY: svc.baseUrl,
      PARTNER_CENTER_TENANT_ID: DEMO.tenantId,
      PARTNER_CENTER_CLIENT_ID: DEMO.clientId,
      PARTNER_CENTER_CLIENT_SECRET: DEMO.clientSecret,
      PARTNER_CENTER_USERNAME: DEMO.username,
      PARTNER_CENTER_PASSWORD: DEMO.password,
      PARTNER_CENTER_CUSTOMER_ID: DEMO.customerId,
    };
    const r = await run(env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^The update operation was successful\.$/m);
    assert.match(r.stdout, /^First Name: Roger$/m);
    assert.match(r.stdout, /^Last Name: Federer$/m);
    assert.match(r.stdout, /^Display Name: Roger Federer$/m);
    assert.match(r.stdout, /^User Principal Name: [0-9a-f]{32}@fabrikamtraders\.onmicrosoft\.com$/m);
    assert.match(r.stdout, /^Usage Location: US$/m);
    const id = /^Id: (\S+)$/m.exec(r.stdout)?.[1];
    assert.ok(id);
    // The sample ends by deleting its user: it is among the deleted users, renamed and updated.
    const deleted: CustomerUser[] = [];
    for await (const u of clientFor(svc).customers.byId(DEMO.customerId).users.listDeleted()) deleted.push(u);
    const user = deleted.find((u) => u.id === id);
    assert.equal(user?.displayName, 'Roger Federer');
    assert.equal(user.usageLocation, 'US');
    assert.match(/^User Principal Name: (\S+)$/m.exec(r.stdout)?.[1] ?? '', new RegExp(`^${user.userPrincipalName.replace(/\./g, '\\.')}$`));

    // Misconfigured: a clear message and a failing exit code, no stack trace.
    const bad = await run({ ...env, PARTNER_CENTER_CUSTOMER_ID: '00000000-0000-4000-8000-000000000001' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^Partner Center refused: Forbidden \(403, code 20002\)/m);
  } finally {
    await svc.close();
  }
});
