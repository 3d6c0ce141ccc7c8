// Hjemmekontor: registering the Buypass card with the stand-in Buypass provider (the current
// password first; choosing the smartcard; the other methods and cancelling are refused), the
// live status from pending to active, a new card replacing the old one (with the SMS notice),
// a card already on another account, and an account not activated for the service.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertClean, createAccount, login, nextSms, openBrowser, outbox, screenshot, sees, smsMark, textOf } from './harness.js';

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
  await page.getByRole('button', { name: 'Logg ut', exact: true }).click();
  await sees(page.getByText('Du er logget ut.'));
  assertClean(page);
});

/** Types `password` and presses "Registrer (nytt) Buypasskort". */
async function startRegistration(password) {
  const section = page.locator('#hjemmekontor');
  await section.getByLabel('Passordet ditt', { exact: true }).fill(password);
  await section.getByRole('button', { name: /^Registrer (nytt )?Buypasskort$/ }).click();
}

/** Starts the registration in the UI and answers the stand-in Buypass page with `method`. */
async function registerWith(account, method, holder) {
  await startRegistration(account.password);
  await sees(page.getByRole('heading', { name: 'Velg identifiseringsmetode' }));
  const choice = page.locator('form').filter({ has: page.getByRole('button', { name: method }) });
  if (holder) await choice.getByLabel('Testbruker').fill(holder);
  await choice.getByRole('button', { name: method }).click();
  await page.waitForURL((url) => url.pathname === '/hjemmekontor');
}

test('Registrer Buypasskort: only a smartcard login registers the card, which turns active live', async () => {
  const account = await createAccount({ prefix: 'kort', mobile: '+4795555555', password: 'Kortleser-og-PIN-kode-7' });
  await login(page, account);
  const section = page.locator('#hjemmekontor');
  assert.equal(await textOf(section.getByRole('status')), 'Ditt Buypasskort er ikke registrert i våre systemer');

  // The current password first: nothing leaves for Buypass without it, or with a wrong one.
  await section.getByRole('button', { name: 'Registrer Buypasskort' }).click();
  await sees(section.getByText('Skriv inn passordet ditt.'));
  await sees(section.getByText('Registreringen ble ikke startet.'));
  await startRegistration('ikke-mitt-passord-1');
  await sees(section.getByText('Feil passord.').first());
  assert.equal(await section.getByLabel('Passordet ditt', { exact: true }).inputValue(), '', 'the wrong password is cleared');
  assert.ok(!page.url().includes('/dev/buypass/'), 'not sent to Buypass');
  await screenshot(page, '17a-hjemmekontor-feil-passord');

  await startRegistration(account.password);
  await sees(page.getByRole('heading', { name: 'Velg identifiseringsmetode' }));
  for (const method of ['Buypass ID på smartkort', 'Buypass ID med passord/SMS', 'Buypass ID med mobil app']) {
    await sees(page.getByRole('button', { name: method }));
  }
  await screenshot(page, '17-buypass-velg-metode');
  await page.goBack();
  await sees(section.getByRole('button', { name: 'Registrer Buypasskort' }));

  await registerWith(account, 'Buypass ID med passord/SMS', account.username);
  await sees(section.getByText('Buypasskortet ble ikke registrert'));
  await sees(section.getByText(/Du logget inn hos Buypass uten smartkort\./));
  assert.equal(await textOf(section.getByRole('status')), 'Ditt Buypasskort er ikke registrert i våre systemer');
  await screenshot(page, '18-hjemmekontor-ikke-smartkort');

  await registerWith(account, 'Avbryt');
  await sees(section.getByText('Du avbrøt innloggingen hos Buypass. Buypasskortet ble ikke registrert.'));

  const mark = await smsMark();
  await registerWith(account, 'Buypass ID på smartkort', account.username);
  await sees(section.getByText('Buypasskortet ditt er registrert. Det kan ta inntil 15 minutter før hjemmekontor er klart til bruk.'));
  // From here on the page is not loaded again: the status must change by itself.
  await page.evaluate(() => {
    window.sameDocument = true;
  });
  // The portal runs with --activation-delay-seconds, so the card is pending for a moment.
  const status = section.locator('.card-status');
  assert.match(await textOf(status), /^Buypasskortet ditt er registrert\. Hjemmekontor gjøres klart\./);
  assert.equal(await section.getByText(/inntil 15 minutter/).filter({ visible: true }).count(), 2, 'while pending: the result and the note');
  assert.match(await textOf(status), /Serienummer: [0-9A-F]{8,}/);
  assert.match(await textOf(status), /Denne siden oppdateres av seg selv når hjemmekontor er klart til bruk\./);
  assert.equal(await section.locator('.steps .step-done').count(), 3);
  assert.equal(await textOf(section.locator('.steps [aria-current="step"] .step-text')), 'Kontoen din er klar');
  await screenshot(page, '19-hjemmekontor-venter');

  await status.getByText('Hjemmekontor er klart til bruk', { exact: true }).waitFor({ timeout: 30_000 });
  assert.equal(await page.evaluate(() => window.sameDocument), true, 'the status changed without a reload');
  // "It can take up to 15 minutes" (the note and the result of the round trip) gives way to
  // the ready state instead of standing next to it.
  assert.equal(await section.getByText(/inntil 15 minutter/).filter({ visible: true }).count(), 0, 'no "up to 15 minutes" once ready');
  assert.match(await textOf(status), /serienummer [0-9A-F]+\) er registrert og aktivert/);
  // announce() fills the live region 50 ms after clearing it (so screen readers hear a change):
  // wait for it rather than reading it once.
  await page.waitForFunction(
    () => document.getElementById('announcer')?.textContent === 'Hjemmekontor er klart til bruk.',
    null,
    { timeout: 5_000 },
  );
  const done = await section.locator('.steps .step-done').count();
  assert.equal(done, 4, 'all four steps are done');
  await sees(section.getByRole('button', { name: 'Registrer nytt Buypasskort' }));
  await screenshot(page, '20-hjemmekontor-aktiv');
  const sms = await nextSms(mark, account.mobile, { timeoutMs: 30_000 });
  assert.match(sms, /Hjemmekontor er klart til bruk/);

  // A new card replaces the old one, and the owner is told by SMS.
  const replacedNotice = /^Buypasskortet ditt er byttet - var det ikke deg, gå til \S+\/ikke-meg eller ring kundesenteret\.$/;
  const notices = async () => (await outbox()).filter((m) => m.to === account.mobile && replacedNotice.test(m.body)).length;
  assert.equal(await notices(), 0, 'no notice for the first card');
  await registerWith(account, 'Buypass ID på smartkort', `${account.username} nytt kort`);
  await sees(section.getByText('Buypasskortet ditt er registrert. Det kan ta inntil 15 minutter før hjemmekontor er klart til bruk.'));
  assert.equal(await notices(), 1, 'the replaced card is announced by SMS');
  await page.getByRole('button', { name: 'Logg ut', exact: true }).click();
  await sees(page.getByText('Du er logget ut.'));

  // The same card on another account is refused.
  const other = await createAccount({ prefix: 'annen', mobile: '+4797777777', password: 'En-annen-konto-med-kort-3' });
  await login(page, other);
  await registerWith(other, 'Buypass ID på smartkort', `${account.username} nytt kort`);
  await sees(section.getByText('Dette Buypasskortet er allerede registrert på en annen konto. Kontakt kundesenteret på 24 20 00 00.'));
  assert.equal(await textOf(section.getByRole('status')), 'Ditt Buypasskort er ikke registrert i våre systemer');
  assertClean(page);
});
