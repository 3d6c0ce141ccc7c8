// Recovery that is never SMS-only: an account with an authenticator app makes its recovery
// codes (after confirming with the app: an SMS login is not enough), logs in with one when the
// app is lost, and a forgotten password needs the app or a recovery code besides the SMS code.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  appCodes,
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
  wrongTotp,
} from './harness.js';

let browser;
let page;
let account;
let secret;
let codes;
let recoveryCodes = [];

before(async () => {
  browser = await openBrowser();
  page = await browser.newPage();
  account = await createAccount({ prefix: 'gjen', mobile: '+4795555551', password: 'Reserve-nokler-i-skuffen-7' });
});

after(async () => {
  await browser.close();
});

async function logInWithPassword(password = account.password) {
  await page.goto(`${BASE}/`);
  await page.getByLabel('Brukernavn').fill(account.username);
  await page.getByLabel('Passord', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Logg inn' }).click();
  await sees(page.getByRole('heading', { name: 'Bekreft kode' }));
}

async function logOut() {
  await page.getByRole('button', { name: 'Logg ut', exact: true }).click();
  await sees(page.getByText('Du er logget ut.'));
}

test('Gjenopprettingskoder: made after confirming with the app, shown once, ten of them', async () => {
  await login(page, account);
  // The first factor needs no step-up: there is nothing to step up with yet.
  const app = page.locator('#autentiseringsapp');
  await app.getByRole('button', { name: 'Ta i bruk autentiseringsapp' }).click();
  await app.getByLabel('Passord', { exact: true }).fill(account.password);
  await app.getByRole('button', { name: 'Fortsett' }).click();
  secret = (await textOf(app.locator('.secret'))).replace(/\s+/g, '');
  codes = appCodes(secret);
  await app.getByLabel('Kode fra appen').fill(await codes.next());
  await app.getByRole('button', { name: 'Aktiver' }).click();
  await sees(app.getByText('Du logger inn med kode fra autentiseringsappen'));

  const section = page.locator('#gjenopprettingskoder');
  await sees(section.getByText('Du har ingen gjenopprettingskoder.'));
  await section.getByRole('button', { name: 'Lag gjenopprettingskoder' }).click();
  await section.getByLabel('Passord', { exact: true }).fill(account.password);
  await section.getByRole('button', { name: 'Lag gjenopprettingskoder' }).click();
  // This session was opened with an SMS code: the app must confirm first.
  const dialog = page.getByRole('dialog', { name: 'Bekreft at det er deg' });
  await sees(dialog);
  await dialog.getByLabel('Kode fra autentiseringsappen').fill(await codes.next());
  await dialog.getByRole('button', { name: 'Bekreft' }).click();

  await sees(section.getByText('Skriv ut kodene eller lagre dem et trygt sted nå. De vises bare denne ene gangen.'));
  recoveryCodes = await section.locator('.recovery-codes li').allTextContents();
  assert.equal(recoveryCodes.length, 10);
  assert.equal(new Set(recoveryCodes).size, 10, 'ten different codes');
  for (const code of recoveryCodes) assert.match(code.trim(), /^[0-9a-z]{5}-?[0-9a-z]{5}$/i);
  await screenshot(page, '16-gjenopprettingskoder');
  await section.getByRole('button', { name: 'Jeg har tatt vare på kodene' }).click();
  // The date the set was made, this year (not the Unix epoch).
  await sees(section.getByText(new RegExp(`Du har 10 ubrukte koder, laget \\d{1,2}\\. \\p{L}+ ${new Date().getFullYear()}`, 'u')));
  assert.equal(await section.locator('.recovery-codes').count(), 0, 'the codes are not shown again');
  await page.reload();
  await sees(page.locator('#gjenopprettingskoder').getByText(/Du har 10 ubrukte koder/));
  await logOut();
  assertClean(page);
});

test('with the app lost, a recovery code logs in once, and never again', async () => {
  const mark = await smsMark();
  await logInWithPassword();
  await page.getByRole('button', { name: 'Har du mistet passnøkkelen og appen? Bruk en gjenopprettingskode' }).click();
  await page.getByLabel('Gjenopprettingskode').fill('abcde-fghjk');
  await page.getByRole('button', { name: 'Bruk gjenopprettingskode' }).click();
  await sees(page.locator('.error-summary').getByText('Feil kode.'));
  await page.getByLabel('Gjenopprettingskode').fill(recoveryCodes[0].toUpperCase());
  await page.getByRole('button', { name: 'Bruk gjenopprettingskode' }).click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));
  await sees(page.locator('#gjenopprettingskoder').getByText(/Du har 9 ubrukte koder/));
  // The phone hears of it (a used recovery code may mean someone else has the list).
  const notice = await nextSms(mark, account.mobile);
  assert.doesNotMatch(notice, new RegExp(recoveryCodes[0], 'i'), 'the SMS does not repeat the code');
  await logOut();

  await logInWithPassword();
  await page.getByRole('button', { name: 'Har du mistet passnøkkelen og appen? Bruk en gjenopprettingskode' }).click();
  await page.getByLabel('Gjenopprettingskode').fill(recoveryCodes[0]);
  await page.getByRole('button', { name: 'Bruk gjenopprettingskode' }).click();
  await sees(page.locator('.error-summary').getByText('Feil kode.'));
  assert.equal(new URL(page.url()).pathname, '/kode', 'a used code opens nothing');
  assertClean(page);
});

test('Glemt passordet?: the SMS code alone is not enough; the app code completes it', async () => {
  await page.goto(`${BASE}/glemt-passord`);
  await page.getByLabel('Brukernavn').fill(account.username);
  const mark = await smsMark();
  await page.getByRole('button', { name: 'Send kode' }).click();
  const smsCode = codeIn(await nextSms(mark, account.mobile));

  const newPassword = 'Ny-vår-med-sikre-koder-4';
  await page.getByLabel('Kode fra SMS').fill(smsCode);
  await page.getByLabel('Nytt passord', { exact: true }).fill(newPassword);
  await page.getByLabel('Gjenta nytt passord').fill(newPassword);
  await page.getByRole('button', { name: 'Lagre nytt passord' }).click();
  await sees(page.getByText(/Koden fra SMS-en stemmer\. Kontoen din er også beskyttet/));
  await screenshot(page, '17-glemt-passord-andre-faktor');
  const appForm = page.locator('form[data-factor="totp"]');
  await appForm.getByLabel('Kode fra autentiseringsappen').fill(wrongTotp(secret));
  await appForm.getByRole('button', { name: 'Lagre nytt passord' }).click();
  await sees(appForm.locator('.error-summary').getByText('Feil kode.'));

  await appForm.getByLabel('Kode fra autentiseringsappen').fill(await codes.next());
  await appForm.getByRole('button', { name: 'Lagre nytt passord' }).click();
  await sees(page.getByText('Passordet er endret. Du kan nå logge inn med det nye passordet.'));
  account.password = newPassword;
  await logInWithPassword(newPassword);
  assertClean(page);
});

test('English: a recovery code logs in, and answers the step-up dialog, all in English', async () => {
  const english = await openBrowser({ locale: 'en-GB' });
  const englishPage = await english.newPage();
  await englishPage.goto(`${BASE}/`);
  // Bokmål until English is chosen (see languages.test.js).
  await englishPage.getByRole('button', { name: 'English' }).click();
  await englishPage.getByLabel('Username').fill(account.username);
  await englishPage.getByLabel('Password', { exact: true }).fill(account.password);
  await englishPage.getByRole('button', { name: 'Log in' }).click();
  await englishPage.getByRole('button', { name: 'Lost your passkey and your app? Use a recovery code' }).click();
  await englishPage.getByLabel('Recovery code').fill(recoveryCodes[1]);
  await englishPage.getByRole('button', { name: 'Use recovery code' }).click();
  const section = englishPage.locator('#gjenopprettingskoder');
  await sees(section.getByText(/You have 8 unused codes/));
  await englishPage.getByRole('button', { name: 'Log out', exact: true }).click();

  // An SMS login, then new codes: the dialog asks for the app, or for a recovery code.
  const mark = await smsMark();
  await englishPage.getByLabel('Username').fill(account.username);
  await englishPage.getByLabel('Password', { exact: true }).fill(account.password);
  await englishPage.getByRole('button', { name: 'Log in' }).click();
  await englishPage.getByRole('button', { name: 'Send me a code by text message instead' }).click();
  await englishPage.getByLabel('Code', { exact: true }).fill(codeIn(await nextSms(mark, account.mobile)));
  await englishPage.getByRole('button', { name: 'Confirm' }).click();
  await section.getByRole('button', { name: 'Make new codes' }).click();
  await section.getByLabel('Password', { exact: true }).fill(account.password);
  await section.getByRole('button', { name: 'Make recovery codes' }).click();
  const dialog = englishPage.getByRole('dialog', { name: 'Confirm it is you' });
  await sees(dialog.getByLabel('Code from the authenticator app'));
  await screenshot(englishPage, '18-confirm-it-is-you-en');
  await dialog.getByRole('button', { name: 'Lost your passkey and your app? Use a recovery code' }).click();
  await dialog.getByLabel('Recovery code').fill(recoveryCodes[1]);
  await dialog.getByRole('button', { name: 'Use recovery code' }).click();
  await sees(dialog.locator('.error-summary').getByText('Wrong code.'));
  await dialog.getByLabel('Recovery code').fill(recoveryCodes[2]);
  await dialog.getByRole('button', { name: 'Use recovery code' }).click();
  await sees(section.getByText('Print the codes or store them somewhere safe now. They are shown only this once.'));
  assert.equal(await section.locator('.recovery-codes li').count(), 10);
  await section.getByRole('button', { name: 'I have stored the codes' }).click();
  // The date of the new set, in the page's language and this year.
  await sees(section.getByText(new RegExp(`You have 10 unused codes, made \\d{1,2} \\p{L}+ ${new Date().getFullYear()}`, 'u')));
  assertClean(englishPage);
  await english.close();
});
