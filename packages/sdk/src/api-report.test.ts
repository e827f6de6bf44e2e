/**
 * The committed API report (api/sdk.api.md, API Extractor) matches the public surface as built: a change to
 * the surface fails here until the report is regenerated (`npm run api:update -w @partnerkit/sdk`) and the
 * change shows in review.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig, ExtractorLogLevel } from '@microsoft/api-extractor';

test('api/sdk.api.md is up to date with the public surface', () => {
  const configFile = fileURLToPath(new URL('../api-extractor.json', import.meta.url));
  const messages: string[] = [];
  const result = Extractor.invoke(ExtractorConfig.loadFileAndPrepare(configFile), {
    localBuild: false,
    messageCallback: (m) => {
      if (m.logLevel === ExtractorLogLevel.Error || m.logLevel === ExtractorLogLevel.Warning) messages.push(m.text);
      m.handled = true;
    },
  });
  assert.equal(result.apiReportChanged, false, 'the public API changed: review it and run `npm run api:update -w @partnerkit/sdk`');
  assert.ok(result.succeeded, messages.join('\n'));
  assert.deepEqual(messages, []);
});
