// Hjemmekontor for an account that is not activated for the service.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertClean, createAccount, login, openBrowser, screenshot, sees, textOf } from './harness.js';

let browser;
let page;

before(async () => {
  browser = await openBrowser();
  page = await browser.newPage();
});

after(async () => {
  await browser.close();
});

test('an account without home office is told so, and offered no registration', async () => {
  const account = await createAccount({ prefix: 'uten', mobile: '+4796666666', password: 'Uten-hjemmekontor-2026', homeOffice: false });
  await login(page, account);
  const section = page.locator('#hjemmekontor');
  assert.equal(await textOf(section.locator('.status-title')), 'Kontoen din er ikke aktivert for hjemmekontorløsningen');
  await sees(section.getByText('Skal du bruke hjemmekontor, kontakt kundesenteret på 24 20 00 00.'));
  assert.equal(await section.getByRole('button', { name: /Registrer/ }).count(), 0);
  await screenshot(page, '16-hjemmekontor-ikke-aktivert');
  assertClean(page);
});
