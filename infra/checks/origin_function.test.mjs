// Runs infra/cloudfront/origin-verify.js (the CloudFront viewer-request function) under Node
// with the template variables Terraform fills in and a stand-in for CloudFront's KeyValueStore
// module, and checks what the API will receive: the origin secret, the viewer address CloudFront
// saw (never one the viewer sent), and no request at all for another host name.
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';

const SECRET = 'origin-secret-from-the-key-value-store';

async function load({ apiHost, stored = SECRET }) {
  const source = await readFile(new URL('../cloudfront/origin-verify.js', import.meta.url), 'utf8');
  const filled = source
    .replace("import cf from 'cloudfront';", `const cf = { kvs: () => ({ get: async () => { ${stored === null ? "throw new Error('no key');" : `return ${JSON.stringify(stored)};`} } }) };`)
    .replaceAll('${kvs_id}', 'kvs-id')
    .replaceAll('${header}', 'x-hk-origin-verify')
    .replaceAll('${kvs_key}', 'origin-verify')
    .replaceAll('${viewer_ip_header}', 'x-hk-viewer-ip')
    .replaceAll('${api_host}', apiHost);
  assert.ok(!/\$\{/.test(filled), 'every template variable is filled');
  const dir = await mkdtemp(join(tmpdir(), 'cf-function-'));
  const file = join(dir, 'function.mjs');
  await writeFile(file, `${filled}\nexport { handler };\n`);
  return (await import(file)).handler;
}

const event = (host, headers = {}) => ({
  request: { headers: { host: { value: host }, ...headers } },
  viewer: { ip: '192.0.2.10' },
});

test('adds the origin secret and the viewer address CloudFront saw, dropping the viewer’s own', async () => {
  const handler = await load({ apiHost: 'api.example.no' });
  const request = await handler(
    event('API.Example.no', {
      'x-hk-viewer-ip': { value: '203.0.113.66' },
      'x-hk-origin-verify': { value: 'guessed' },
    }),
  );
  assert.equal(request.headers['x-hk-viewer-ip'].value, '192.0.2.10');
  assert.equal(request.headers['x-hk-origin-verify'].value, SECRET);
});

test('with a custom domain, other host names (the TLS 1.0-capable *.cloudfront.net) are refused', async () => {
  const handler = await load({ apiHost: 'api.example.no' });
  const answer = await handler(event('d111111abcdef8.cloudfront.net'));
  assert.equal(answer.statusCode, 421);
  assert.equal(answer.headers, undefined, 'a response, not a request passed on');
});

test('without a custom domain every host passes (test environments)', async () => {
  const handler = await load({ apiHost: '' });
  const request = await handler(event('d111111abcdef8.cloudfront.net'));
  assert.equal(request.headers['x-hk-origin-verify'].value, SECRET);
});

test('an empty key-value store fails closed: no secret header, so the API answers 404', async () => {
  const handler = await load({ apiHost: '', stored: null });
  const request = await handler(event('x', { 'x-hk-origin-verify': { value: 'guessed' } }));
  assert.equal(request.headers['x-hk-origin-verify'], undefined);
});
