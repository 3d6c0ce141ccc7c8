// The authenticator app: set up on the account page with its QR code, then used at login
// (with "send me an SMS instead" as the way out), and removed again.

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

before(async () => {
  browser = await openBrowser();
  page = await browser.newPage();
  account = await createAccount({ prefix: 'app', mobile: '+4794444444', password: 'Autentisering-i-lomma-8' });
});

after(async () => {
  await browser.close();
});

async function logInWithPassword() {
  await page.goto(`${BASE}/`);
  await page.getByLabel('Brukernavn').fill(account.username);
  await page.getByLabel('Passord', { exact: true }).fill(account.password);
  await page.getByRole('button', { name: 'Logg inn' }).click();
  await sees(page.getByRole('heading', { name: 'Bekreft kode' }));
}

test('Autentiseringsapp: set up with the QR code and a code from the app', async () => {
  await login(page, account);
  const section = page.locator('#autentiseringsapp');
  await section.getByRole('button', { name: 'Ta i bruk autentiseringsapp' }).click();
  await section.getByLabel('Passord', { exact: true }).fill('Ikke-riktig-passord-1');
  await section.getByRole('button', { name: 'Fortsett' }).click();
  await sees(section.locator('.error-summary').getByText('Feil passord.'));
  await section.getByLabel('Passord', { exact: true }).fill(account.password);
  await section.getByRole('button', { name: 'Fortsett' }).click();

  const qr = section.getByRole('img', { name: 'QR-kode for autentiseringsappen' });
  await sees(qr);
  assert.match(await qr.getAttribute('src'), /^data:image\/png;base64,/);
  const naturalWidth = await qr.evaluate((img) => img.naturalWidth);
  assert.ok(naturalWidth > 0, 'the QR code image loads under the CSP');
  secret = (await textOf(section.locator('.secret'))).replace(/\s+/g, '');
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await screenshot(page, '14-autentiseringsapp-qr');

  await section.getByLabel('Kode fra appen').fill(wrongTotp(secret));
  await section.getByRole('button', { name: 'Aktiver' }).click();
  await sees(section.locator('.error-summary').getByText('Feil kode.'));
  codes = appCodes(secret);
  await section.getByLabel('Kode fra appen').fill(await codes.next());
  await section.getByRole('button', { name: 'Aktiver' }).click();
  await sees(section.getByText('Autentiseringsappen er aktivert. Neste gang du logger inn, bruker du koden fra appen.'));
  await sees(section.getByText('Du logger inn med kode fra autentiseringsappen'));
  await page.getByRole('button', { name: 'Logg ut', exact: true }).click();
  await sees(page.getByText('Du er logget ut.'));
  assertClean(page);
});

test('login asks for the app code: a wrong one is refused, the next one logs in', async () => {
  const mark = await smsMark();
  await logInWithPassword();
  await sees(page.getByText('Fyll inn koden som vises i autentiseringsappen din.'));
  await sees(page.getByRole('button', { name: 'Send meg en kode på SMS i stedet' }));
  await page.getByLabel('Kode', { exact: true }).fill(wrongTotp(secret));
  await page.getByRole('button', { name: 'Bekreft' }).click();
  await sees(page.locator('.error-summary').getByText('Feil kode.'));
  await screenshot(page, '15-bekreft-kode-app');
  // The enrolment used up this time step's code; the next step's is within the drift window.
  await page.getByLabel('Kode', { exact: true }).fill(await codes.next());
  await page.getByRole('button', { name: 'Bekreft' }).click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));
  await assert.rejects(nextSms(mark, account.mobile, { timeoutMs: 200 }), 'no SMS code was sent');
  await page.getByRole('button', { name: 'Logg ut', exact: true }).click();
  await sees(page.getByText('Du er logget ut.'));
});

test('an SMS reported undelivered: "Bekreft kode" says so and offers the app', async () => {
  await logInWithPassword();
  const mark = await smsMark();
  await page.getByRole('button', { name: 'Send meg en kode på SMS i stedet' }).click();
  await nextSms(mark, account.mobile);
  // The screen asks the real API; nothing is reported yet.
  const first = await page.waitForResponse((r) => r.url().endsWith('/v1/auth/sms/status'), { timeout: 20000 });
  assert.deepEqual(await first.json(), { sms: 'unknown', alternatives: ['totp'] });
  await assert.rejects(
    page.getByText('SMS-en kom ikke fram — bruk autentiseringsappen.').waitFor({ timeout: 200 }),
    'no notice while the SMS is not reported undelivered',
  );
  // SNS's failure status, as the API answers once serial-activation has recorded it (that
  // path is tested in the Rust suites; here only the screen's answer to it).
  await page.route('**/v1/auth/sms/status', (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ sms: 'failed', alternatives: ['totp'] }) }),
  );
  // The screen asks every 10 s: up to one interval until the next question.
  await page.getByText('SMS-en kom ikke fram — bruk autentiseringsappen.').waitFor({ timeout: 25000 });
  await screenshot(page, '15b-bekreft-kode-sms-kom-ikke-fram');
  await page.getByRole('button', { name: 'Bruk autentiseringsappen' }).click();
  await sees(page.getByText('Fyll inn koden som vises i autentiseringsappen din.'));
  await page.unroute('**/v1/auth/sms/status');
  assertClean(page);
});

test('"Bytt passord" from an SMS login asks for a code from the app first', async () => {
  await logInWithPassword();
  const mark = await smsMark();
  await page.getByRole('button', { name: 'Send meg en kode på SMS i stedet' }).click();
  await page.getByLabel('Kode', { exact: true }).fill(codeIn(await nextSms(mark, account.mobile)));
  await page.getByRole('button', { name: 'Bekreft' }).click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));

  // Whoever holds the password and the SIM could otherwise set a password of their own.
  const newPassword = 'Appen-bekrefter-bytte-9';
  await page.getByLabel('Gammelt passord').fill(account.password);
  await page.getByLabel('Nytt passord', { exact: true }).fill(newPassword);
  await page.getByLabel('Gjenta nytt passord').fill(newPassword);
  await page.getByRole('button', { name: 'Bytt passord' }).click();
  const dialog = page.getByRole('dialog', { name: 'Bekreft at det er deg' });
  await sees(dialog);
  await dialog.getByLabel('Kode fra autentiseringsappen').fill(await codes.next());
  await dialog.getByRole('button', { name: 'Bekreft' }).click();
  await sees(page.getByText('Passordet er endret.').first());
  assert.equal(await page.getByRole('dialog').count(), 0, 'the dialog is gone');
  account.password = newPassword;
  assertClean(page);
  await page.getByRole('button', { name: 'Logg ut', exact: true }).click();
  await sees(page.getByLabel('Brukernavn'));
});

test('"Send meg en kode på SMS i stedet" logs in, but removing the app then needs a code from the app', async () => {
  await logInWithPassword();
  const mark = await smsMark();
  await page.getByRole('button', { name: 'Send meg en kode på SMS i stedet' }).click();
  await sees(page.getByText(/Fyll inn koden som ble tilsendt på SMS til \+47 ••••••44\./));
  const code = codeIn(await nextSms(mark, account.mobile));
  await page.getByLabel('Kode', { exact: true }).fill(code);
  await page.getByRole('button', { name: 'Bekreft' }).click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));

  const section = page.locator('#autentiseringsapp');
  await section.getByRole('button', { name: 'Fjern autentiseringsapp' }).click();
  await section.getByLabel('Passord', { exact: true }).fill(account.password);
  await section.getByRole('button', { name: 'Fjern autentiseringsapp' }).click();
  // An SMS login is not enough to take the app away: whoever holds the SIM could.
  const dialog = page.getByRole('dialog', { name: 'Bekreft at det er deg' });
  await sees(dialog);
  await screenshot(page, '15c-bekreft-at-det-er-deg');
  await dialog.getByLabel('Kode fra autentiseringsappen').fill(wrongTotp(secret));
  await dialog.getByRole('button', { name: 'Bekreft' }).click();
  await sees(dialog.locator('.error-summary').getByText('Feil kode.'));
  await dialog.getByLabel('Kode fra autentiseringsappen').fill(await codes.next());
  await dialog.getByRole('button', { name: 'Bekreft' }).click();
  await sees(section.getByText('Autentiseringsappen er fjernet. Du får koden på SMS når du logger inn.'));
  assert.equal(await page.getByRole('dialog').count(), 0, 'the dialog is gone');
  await sees(section.getByRole('button', { name: 'Ta i bruk autentiseringsapp' }));
  assertClean(page);
});
