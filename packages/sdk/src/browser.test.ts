/**
 * The SDK in a real browser (Debian's Chromium, headless, driven by playwright-core): the built ES modules are
 * loaded by a page and run the seed PATCH, paging and an error against the real service. A small same-origin
 * server serves the page and the SDK's files and forwards everything else to the service, as a deployment
 * behind one origin would (the real Partner Center does not serve CORS for browsers).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { DEMO, DEMO_IDS, startTestService, type TestService } from '@partnerkit/server/testing';

const SDK_DIST = fileURLToPath(new URL('.', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';

const PAGE = `<!doctype html><meta charset="utf-8"><title>SDK in a browser</title>
<script type="module">
import * as sdk from '/sdk/index.js';
window.runScenario = async (a) => {
  const credential = new sdk.UsernamePasswordCredential({ authority: location.origin, tenantId: a.tenantId, clientId: a.clientId,
    clientSecret: a.clientSecret, username: a.username, password: a.password });
  const partner = new sdk.PartnerClient({ credential, baseUrl: location.origin });
  const users = partner.customers.byId(a.customerId).users;
  const patched = await users.byId(a.userId).patch({ usageLocation: 'NZ' });
  let listed = 0;
  for await (const u of users.list({ pageSize: 3 })) { if (u.attributes.objectType === 'CustomerUser') listed++; }
  let error = null;
  try { await users.byId('00000000-0000-4000-8000-000000000000').get(); }
  catch (e) { error = { is: sdk.PartnerError.is(e), status: e.status, category: e.category, code: e.code }; }
  return { patched: { id: patched.id, usageLocation: patched.usageLocation }, listed, error, userAgent: navigator.userAgent };
};
window.ready = true;
</script>`;

let svc: TestService;
let origin: string;
let server: Server;
let browser: Browser;
/** What `before` started, closed in reverse order: a browser that fails to launch must not leave the rest running. */
const started: (() => Promise<void>)[] = [];

before(async () => {
  svc = await startTestService();
  started.push(() => svc.close());
  server = createServer((req, res) => {
    void (async () => {
      const url = req.url ?? '/';
      if (url === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
        return;
      }
      const m = /^\/sdk\/([\w/.-]+\.js)$/.exec(url);
      if (m?.[1] !== undefined && !m[1].includes('..')) {
        const js = await readFile(`${SDK_DIST}${m[1]}`).catch(() => undefined);
        if (js) res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(js);
        else res.writeHead(404).end();
        return;
      }
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'connection') headers.set(k, v);
      const upstream = await fetch(`${svc.baseUrl}${url}`, { method: req.method ?? 'GET', headers, ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}) });
      const out: Record<string, string> = {};
      upstream.headers.forEach((v, k) => { if (k !== 'content-encoding' && k !== 'transfer-encoding' && k !== 'connection') out[k] = v; });
      res.writeHead(upstream.status, out).end(Buffer.from(await upstream.arrayBuffer()));
    })().catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  started.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  origin = `http://127.0.0.1:${String(address.port)}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  started.push(() => browser.close());
});

after(async () => {
  for (const close of started.reverse()) await close();
});

test('in a real browser the SDK signs in, sends the seed PATCH, pages a list and maps an error', async () => {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  const result = await page.evaluate(
    (a) => (window as unknown as { runScenario: (x: typeof a) => Promise<unknown> }).runScenario(a),
    { tenantId: DEMO.tenantId, clientId: DEMO.clientId, clientSecret: DEMO.clientSecret, username: DEMO.username, password: DEMO.password, customerId: DEMO.customerId, userId: DEMO.userId },
  ) as { patched: { id: string; usageLocation: string }; listed: number; error: { is: boolean; status: number; category: string; code: number } | null; userAgent: string };

  assert.match(result.userAgent, /Chrome/);
  assert.deepEqual(result.patched, { id: DEMO.userId, usageLocation: 'NZ' });
  const stored = await svc.store.getUser(DEMO.customerId, DEMO.userId);
  assert.equal(stored?.usageLocation, 'NZ', 'the change reached the service');
  const active = (await svc.store.listUsers({ customerId: DEMO_IDS.fabrikam.customerId, state: 'active', sort: 'creation', descending: false, after: undefined, limit: 1000, purgeBefore: '1970-01-01T00:00:00Z' })).length;
  assert.equal(result.listed, active, 'every page was read');
  assert.deepEqual(result.error, { is: true, status: 404, category: 'NotFound', code: 60002 });
  await page.close();
});
