// First login with the password NHN sent by SMS (a new password is required), and a forgotten
// password reset with the code from the SMS.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  assertClean,
  BASE,
  codeIn,
  createAccount,
  login,
  nextSms,
  openBrowser,
  screenshot,
  sees,
  smsMark,
  textOf,
  wrongCode,
} from './harness.js';

let browser;
let page;

before(async () => {
  browser = await openBrowser();
  page = await browser.newPage();
});

after(async () => {
  await browser.close();
});

test('first login with the password from the SMS requires a new password before anything else', async () => {
  const mark = await smsMark();
  const account = await createAccount({ prefix: 'ny', mobile: '+4791111111' });
  const sms = await nextSms(mark, account.mobile);
  const sent = /passord (\S+)\. Bytt passord/.exec(sms);
  assert.ok(sent, sms);
  account.password = sent[1];

  await login(page, account);
  await sees(page.getByRole('heading', { name: 'Velg nytt passord' }));
  assert.equal(new URL(page.url()).pathname, '/bytt-passord');
  await page.goto(`${BASE}/konto`);
  await sees(page.getByRole('heading', { name: 'Velg nytt passord' }));
  assert.equal(new URL(page.url()).pathname, '/bytt-passord', 'nothing else opens before the password is changed');

  await page.getByLabel('Passordet du fikk tilsendt').fill('Ikke-det-tilsendte-1');
  await page.getByLabel('Nytt passord', { exact: true }).fill('Vinterlys-over-Vestlandet-3');
  await page.getByLabel('Gjenta nytt passord').fill('Vinterlys-over-Vestlandet-3');
  await page.getByRole('button', { name: 'Lagre nytt passord' }).click();
  await sees(page.locator('.error-summary').getByText('Feil passord.'));
  await screenshot(page, '11-nytt-passord-pakrevd');

  await page.getByLabel('Passordet du fikk tilsendt').fill(account.password);
  await page.getByLabel('Nytt passord', { exact: true }).fill('Vinterlys-over-Vestlandet-3');
  await page.getByLabel('Gjenta nytt passord').fill('Vinterlys-over-Vestlandet-3');
  await page.getByRole('button', { name: 'Lagre nytt passord' }).click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));
  await sees(page.getByText('Passordet er endret.'));
  assert.equal(new URL(page.url()).pathname, '/konto');
  await page.getByRole('button', { name: 'Logg ut', exact: true }).click();
  await sees(page.getByText('Du er logget ut.'));
  assertClean(page);
});

test('Glemt passordet?: a wrong code is refused, the right code sets the new password', async () => {
  const account = await createAccount({ prefix: 'glemt', mobile: '+4792222222', password: 'Gammelt-og-glemt-passord-9' });
  await page.goto(`${BASE}/`);
  await page.getByRole('link', { name: 'Glemt passordet?' }).click();
  await sees(page.getByRole('heading', { name: 'Glemt passordet?' }));
  await page.getByLabel('Brukernavn').fill(account.username);
  const mark = await smsMark();
  await page.getByRole('button', { name: 'Send kode' }).click();
  await sees(page.getByText('Hvis brukernavnet finnes, har vi sendt en kode på SMS til mobilnummeret som er registrert på kontoen.'));
  await sees(page.getByText(/Du kan be om en ny kode om \d+ sekunder\./));
  const code = codeIn(await nextSms(mark, account.mobile));

  const newPassword = 'Nordlys-og-Midnattssol-5';
  await page.getByLabel('Kode fra SMS').fill(wrongCode(code));
  await page.getByLabel('Nytt passord', { exact: true }).fill(newPassword);
  await page.getByLabel('Gjenta nytt passord').fill(newPassword);
  await page.getByRole('button', { name: 'Lagre nytt passord' }).click();
  await sees(page.locator('.error-summary').getByText('Feil kode.'));
  await sees(page.locator('.error-summary').getByText('Du har 4 forsøk igjen.'));
  await screenshot(page, '12-glemt-passord-feil-kode');

  await page.getByLabel('Kode fra SMS').fill(code);
  await page.getByRole('button', { name: 'Lagre nytt passord' }).click();
  await sees(page.getByText('Passordet er endret. Du kan nå logge inn med det nye passordet.'));
  await screenshot(page, '13-glemt-passord-ferdig');
  await page.getByRole('link', { name: 'Gå til innlogging' }).click();

  await login(page, { ...account, password: newPassword });
  assert.equal(await textOf(page.locator('.fact dd').first()), account.username);
  await page.getByRole('button', { name: 'Logg ut', exact: true }).click();
  await sees(page.getByText('Du er logget ut.'));
  assertClean(page);
});

test('a stale code page sends the user back to the login', async () => {
  await page.goto(`${BASE}/kode`);
  await sees(page.getByText('Innloggingen er ikke lenger aktiv. Start innloggingen på nytt.'));
  await page.getByRole('link', { name: 'Gå til innlogging' }).click();
  await sees(page.getByRole('heading', { name: 'Innlogging' }));
});

test('a user who comes back from Buypass signed out sees the result, then lands on Hjemmekontor', async () => {
  const account = await createAccount({ prefix: 'retur', mobile: '+4793333333', password: 'Tilbake-fra-Buypass-42' });
  await page.goto(`${BASE}/hjemmekontor?buypass=error&reason=not_smartcard`);
  await sees(page.getByRole('heading', { name: 'Innlogging' }));
  await sees(page.getByText(/Du logget inn hos Buypass uten smartkort/));
  await login(page, account, { goto: false });
  await sees(page.locator('#hjemmekontor').getByText(/Du logget inn hos Buypass uten smartkort/));
  assert.equal(new URL(page.url()).pathname, '/hjemmekontor');
  assertClean(page);
});
