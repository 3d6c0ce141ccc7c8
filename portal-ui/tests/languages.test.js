// One language per page: with an English-language browser and with a Norwegian one, every
// text on each screen is from the chosen language's catalogue (page and API), errors after a
// wrong password and a wrong code included; switching language keeps the session, and the
// account's SMS follow the language chosen while logged in.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  assertClean,
  assertOneLanguage,
  BASE,
  codeIn,
  createAccount,
  nextSms,
  openBrowser,
  screenshot,
  sees,
  smsMark,
  textOf,
  wrongCode,
} from './harness.js';

const browsers = [];

after(async () => {
  for (const browser of browsers) await browser.close();
});

async function pageWith(locale) {
  const browser = await openBrowser({ locale });
  browsers.push(browser);
  return browser.newPage();
}

/** Password step in the page's language; returns the code that was sent, or null for a refusal. */
async function passwordStep(page, account, { username, password, submit, codeHeading }, { wrong = false } = {}) {
  await page.getByLabel(username).fill(account.username);
  await page.getByLabel(password, { exact: true }).fill(wrong ? 'Helt-feil-passord-123' : account.password);
  const mark = await smsMark();
  await page.getByRole('button', { name: submit, exact: true }).click();
  if (wrong) return null;
  await sees(page.getByRole('heading', { name: codeHeading }));
  return codeIn(await nextSms(mark, account.mobile));
}

const NB = { username: 'Brukernavn', password: 'Passord', submit: 'Logg inn', codeHeading: 'Bekreft kode', confirm: 'Bekreft' };
const NN = { username: 'Brukarnamn', password: 'Passord', submit: 'Logg inn', codeHeading: 'Stadfest kode', confirm: 'Stadfest' };
const EN = { username: 'Username', password: 'Password', submit: 'Log in', codeHeading: 'Confirm code', confirm: 'Confirm' };

test('an English browser gets bokmål until English is chosen; then every text is English, errors included, and a switch to nynorsk keeps the session', async () => {
  const account = await createAccount({ prefix: 'eng', name: 'Emma Nordmann', mobile: '+4793333301', password: 'English-Browser-Pass-2026' });
  const data = [account.username, 'Emma Nordmann', '+47 933 33 301'];
  const page = await pageWith('en-GB');

  // The browser asks for English, but the page is bokmål by default, and so is the API's
  // answer to a wrong password (the page asks the API in its own language).
  await page.goto(`${BASE}/`);
  await sees(page.getByRole('heading', { name: 'Innlogging', level: 1 }));
  await passwordStep(page, account, NB, { wrong: true });
  assert.equal(await textOf(page.getByRole('alert')), 'Feil brukernavn eller passord.');
  await assertOneLanguage(page, 'nb', data);

  await page.getByRole('button', { name: 'English' }).click();
  await sees(page.getByRole('heading', { name: 'Log in', level: 1 }));
  assert.equal(await page.getByRole('button', { name: 'English' }).getAttribute('aria-pressed'), 'true');
  await assertOneLanguage(page, 'en', data);
  await screenshot(page, '40-en-log-in');

  await passwordStep(page, account, EN, { wrong: true });
  assert.equal(await textOf(page.getByRole('alert')), 'Wrong username or password.');
  await assertOneLanguage(page, 'en', data);
  await screenshot(page, '41-en-wrong-password');

  const code = await passwordStep(page, account, EN);
  await sees(page.getByText('The code is valid for 5 minutes.'));
  await assertOneLanguage(page, 'en', data);
  await page.getByLabel('Code', { exact: true }).fill(wrongCode(code));
  await page.getByRole('button', { name: 'Confirm', exact: true }).click();
  const alert = page.getByRole('alert');
  await sees(alert.getByText('Wrong code.'));
  await sees(alert.getByText('You have 4 attempts left.'));
  await assertOneLanguage(page, 'en', data);
  await screenshot(page, '42-en-wrong-code');

  await page.getByLabel('Code', { exact: true }).fill(code);
  await page.getByRole('button', { name: 'Confirm', exact: true }).click();
  await sees(page.getByRole('heading', { name: 'Account details', level: 1 }));
  await sees(page.getByText(account.username, { exact: true }));
  await sees(page.getByText('Your Buypass card is not registered in our systems'));
  await assertOneLanguage(page, 'en', data);
  await screenshot(page, '43-en-account');

  // Nynorsk while logged in: the same screen, the same session, and the account's language.
  const stored = page.waitForResponse((r) => r.url().endsWith('/v1/account/language') && r.request().method() === 'PUT');
  await page.getByRole('button', { name: 'Nynorsk' }).click();
  assert.equal((await stored).status(), 204);
  await sees(page.getByRole('heading', { name: 'Kontoopplysingar', level: 1 }));
  assert.equal(new URL(page.url()).pathname, '/konto');
  await sees(page.getByText(account.username, { exact: true }));
  await sees(page.getByText('Buypasskortet ditt er ikkje registrert i systema våre'));
  await assertOneLanguage(page, 'nn', data);
  await screenshot(page, '44-nn-kontoopplysingar');

  // The choice outlives a reload, and so does the session.
  await page.reload();
  await sees(page.getByRole('heading', { name: 'Kontoopplysingar', level: 1 }));
  await sees(page.getByText(account.username, { exact: true }));
  await assertOneLanguage(page, 'nn', data);

  // A wrong old password in nynorsk, from the API too.
  const passwordSection = page.locator('section', { has: page.getByRole('heading', { name: 'Byte passord' }) });
  await passwordSection.getByLabel('Gammalt passord').fill('Helt-feil-passord-123');
  await passwordSection.getByLabel('Nytt passord', { exact: true }).fill('Eit-heilt-nytt-passord-2026');
  await passwordSection.getByLabel('Gjenta nytt passord').fill('Eit-heilt-nytt-passord-2026');
  await passwordSection.getByRole('button', { name: 'Byt passord' }).click();
  await sees(passwordSection.getByRole('alert').getByText('Feil passord.'));
  await assertOneLanguage(page, 'nn', data);

  // Logged out and in again in nynorsk: the code SMS is nynorsk now.
  await page.getByRole('button', { name: 'Logg ut', exact: true }).click();
  await sees(page.getByText('Du er logga ut.'));
  await assertOneLanguage(page, 'nn', data);
  const mark = await smsMark();
  await passwordStep(page, account, NN);
  assert.match(await nextSms(mark, account.mobile), /^Eingongskoden din er \d{6}\. Koden gjeld i 5 minutt\./);
  await assertOneLanguage(page, 'nn', data);
  await screenshot(page, '45-nn-stadfest-kode');
  assertClean(page);
});

test('a Norwegian browser: bokmål on every screen, errors included', async () => {
  const account = await createAccount({ prefix: 'bm', name: 'Nils Nordmann', mobile: '+4793333302', password: 'Norsk-Nettlesar-Pass-2026' });
  const data = [account.username, 'Nils Nordmann', '+47 933 33 302'];
  const page = await pageWith('nb-NO');

  await page.goto(`${BASE}/`);
  await sees(page.getByRole('heading', { name: 'Innlogging', level: 1 }));
  assert.equal(await page.getByRole('button', { name: 'Bokmål' }).getAttribute('aria-pressed'), 'true');
  await assertOneLanguage(page, 'nb', data);
  await passwordStep(page, account, NB, { wrong: true });
  assert.equal(await textOf(page.getByRole('alert')), 'Feil brukernavn eller passord.');
  await assertOneLanguage(page, 'nb', data);

  const code = await passwordStep(page, account, NB);
  await page.getByLabel('Kode', { exact: true }).fill(wrongCode(code));
  await page.getByRole('button', { name: NB.confirm, exact: true }).click();
  await sees(page.getByRole('alert').getByText('Feil kode.'));
  await sees(page.getByRole('alert').getByText('Du har 4 forsøk igjen.'));
  await assertOneLanguage(page, 'nb', data);
  await page.getByLabel('Kode', { exact: true }).fill(code);
  await page.getByRole('button', { name: NB.confirm, exact: true }).click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger', level: 1 }));
  await sees(page.getByText('Ditt Buypasskort er ikke registrert i våre systemer'));
  await assertOneLanguage(page, 'nb', data);
  await screenshot(page, '46-nb-kontoopplysninger');

  await page.goto(`${BASE}/glemt-passord`);
  await sees(page.getByRole('heading', { name: 'Glemt passordet?', level: 1 }));
  await assertOneLanguage(page, 'nb', data);
  assertClean(page);
});
