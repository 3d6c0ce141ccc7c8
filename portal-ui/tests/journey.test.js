// The main journey of the source document through the UI: Innlogging → Bekreft kode →
// Kontoopplysninger (phone change, password change) → Hjemmekontor, with one failure per screen.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  assertClean,
  lowContrastTexts,
  BASE,
  codeIn,
  loginUntilCode,
  nextSms,
  openBrowser,
  screenshot,
  sees,
  smsMark,
  textOf,
  USER,
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

test('the login page is Norwegian, labelled and served under a strict CSP', async () => {
  const response = await page.goto(`${BASE}/`);
  const headers = response.headers();
  assert.match(headers['content-security-policy'], /default-src 'self'/);
  assert.doesNotMatch(headers['content-security-policy'], /unsafe-inline/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'no-referrer');
  await sees(page.getByRole('heading', { name: 'Innlogging', level: 1 }));
  assert.equal(await page.getAttribute('html', 'lang'), 'nb');
  await sees(page.getByLabel('Brukernavn'));
  await sees(page.getByLabel('Passord', { exact: true }));
  await sees(page.getByLabel('Husk meg'));
  await sees(page.getByRole('button', { name: 'Logg inn' }));
  await sees(page.getByRole('link', { name: 'Glemt passordet?' }));
  // Every input has a label.
  const unlabelled = await page.$$eval('input', (inputs) => inputs.filter((i) => i.labels.length === 0).length);
  assert.equal(unlabelled, 0);
  // Keyboard order: username, password, remember me, log in.
  await page.getByLabel('Brukernavn').focus();
  const order = [];
  for (let i = 0; i < 3; i += 1) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => document.activeElement.name || document.activeElement.textContent));
  }
  assert.deepEqual(order, ['password', 'remember', 'Logg inn']);
  await screenshot(page, '01-innlogging');
  assert.deepEqual(await lowContrastTexts(page), [], 'every text has at least 4.5:1 contrast');
  assertClean(page);
});

test('a wrong password shows the problem title and no code is sent', async () => {
  await page.goto(`${BASE}/`);
  await page.getByLabel('Brukernavn').fill(USER.username);
  await page.getByLabel('Passord', { exact: true }).fill('Helt-feil-passord-123');
  const mark = await smsMark();
  await page.getByRole('button', { name: 'Logg inn' }).click();
  assert.equal(await textOf(page.getByRole('alert')), 'Feil brukernavn eller passord.');
  assert.equal(await page.getByLabel('Passord', { exact: true }).inputValue(), '', 'the password field is cleared');
  await screenshot(page, '02-innlogging-feil-passord');
  await assert.rejects(nextSms(mark, USER.mobile, { timeoutMs: 300 }));
});

test('Bekreft kode: countdown for a new code, a wrong code, then the right one', async () => {
  const code = await loginUntilCode(page, { ...USER, rememberMe: true });
  await sees(page.getByText('Fyll inn koden som ble tilsendt på SMS til +47 ••••••67.'));
  await sees(page.getByText('Om du ikke mottar kode – kontakt kundesenteret på 24 20 00 00.'));
  const resend = page.getByRole('button', { name: 'Send ny kode' });
  assert.equal(await resend.isDisabled(), true, 'no new code before resend_after');
  const countdown = page.getByText(/Du kan be om en ny kode om \d+ sekunder\./);
  const first = Number(/(\d+) sekunder/.exec(await textOf(countdown))[1]);
  assert.ok(first > 20 && first <= 30, `countdown starts near 30 s, was ${first}`);
  await page.waitForTimeout(1_300);
  const later = Number(/(\d+) sekunder/.exec(await textOf(countdown))[1]);
  assert.ok(later < first, `the countdown counts down (${first} → ${later})`);
  assert.equal(await page.evaluate(() => document.activeElement.name), 'code', 'the code field has focus');
  await screenshot(page, '03-bekreft-kode');

  await page.getByLabel('Kode', { exact: true }).fill(wrongCode(code));
  await page.getByRole('button', { name: 'Bekreft' }).click();
  const alert = page.locator('.error-summary');
  await sees(alert.getByText('Feil kode.'));
  await sees(alert.getByText('Du har 4 forsøk igjen.'));
  await screenshot(page, '04-bekreft-kode-feil');
  assert.deepEqual(await lowContrastTexts(page), [], 'every text has at least 4.5:1 contrast');

  await page.getByLabel('Kode', { exact: true }).fill(code);
  await page.getByRole('button', { name: 'Bekreft' }).click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));
  assert.equal(new URL(page.url()).pathname, '/konto');
});

function fact(name) {
  return page.locator('.fact').filter({ has: page.locator('dt', { hasText: new RegExp(`^${name}$`) }) }).locator('dd');
}

test('Kontoopplysninger shows the account; the session survives a reload through the refresh cookie only', async () => {
  assert.equal(await textOf(fact('Brukernavn')), USER.username);
  assert.equal(await textOf(fact('Navn')), 'Kari Nordmann');
  assert.equal(await textOf(fact('E-post')), 'Ingen e-post registrert');
  assert.match(await textOf(fact('Mobiltelefon')), /^\+47 912 34 567/);
  await sees(page.getByRole('button', { name: 'Bytt telefonnummer' }));
  await sees(page.getByRole('heading', { name: 'Bytte passord' }));
  await sees(page.getByLabel('Gammelt passord'));
  await sees(page.getByLabel('Nytt passord', { exact: true }));
  await sees(page.getByLabel('Gjenta nytt passord'));
  await screenshot(page, '05-konto');

  const cookies = await browser.context.cookies(BASE);
  const refresh = cookies.find((c) => c.name === '__Host-hk_refresh');
  assert.ok(refresh, 'Chromium keeps the __Host- Secure refresh cookie on http://localhost');
  assert.equal(refresh.secure, true);
  assert.equal(refresh.httpOnly, true);
  assert.equal(refresh.sameSite, 'Strict');
  assert.ok(refresh.expires > 0, '"Husk meg" makes the cookie persistent');

  await page.reload();
  assert.equal(await textOf(fact('Brukernavn')), USER.username);
  const stored = await page.evaluate(() => localStorage.length + sessionStorage.length);
  assert.equal(stored, 0, 'nothing is kept in web storage');
  const readable = await page.evaluate(() => document.cookie);
  assert.equal(readable, '', 'no cookie is readable by scripts');
  assertClean(page);
});

test('Bytt telefonnummer: a wrong password is refused, then the code to the new number switches it', async () => {
  await page.getByRole('button', { name: 'Bytt telefonnummer' }).click();
  await page.getByLabel('Nytt mobilnummer').fill('987 65 432');
  await page.getByLabel('Passord', { exact: true }).fill('Ikke-mitt-passord-123');
  await page.getByRole('button', { name: 'Send kode' }).click();
  await sees(page.locator('.error-summary').getByText('Feil passord.'));

  await page.getByLabel('Nytt mobilnummer').fill('22 33 44 55');
  await page.getByLabel('Passord', { exact: true }).fill(USER.password);
  await page.getByRole('button', { name: 'Send kode' }).click();
  await sees(page.getByText('Dette er ikke et norsk mobilnummer (mobilnumre begynner på 4 eller 9).'));

  await page.getByLabel('Nytt mobilnummer').fill('987 65 432');
  await page.getByLabel('Passord', { exact: true }).fill(USER.password);
  const mark = await smsMark();
  await page.getByRole('button', { name: 'Send kode' }).click();
  await sees(page.getByText('Fyll inn koden vi har sendt på SMS til det nye nummeret (+47 ••••••32).'));
  await sees(page.getByText(/Du kan be om en ny kode om \d+ sekunder\./));
  await screenshot(page, '06-bytt-telefonnummer-kode');
  const code = codeIn(await nextSms(mark, '+4798765432'));
  await page.getByLabel('Kode', { exact: true }).fill(code);
  await page.getByRole('button', { name: 'Bekreft' }).click();
  await sees(page.getByText('Mobilnummeret er endret.'));
  await page.getByText('+47 987 65 432').waitFor();
  USER.mobile = '+4798765432';
});

test('Bytte passord: mismatch and a weak password are explained, then the password is changed', async () => {
  const form = page.locator('form').filter({ has: page.getByLabel('Gammelt passord') });
  await page.getByLabel('Gammelt passord').fill(USER.password);
  await page.getByLabel('Nytt passord', { exact: true }).fill('Et-langt-nytt-passord-1');
  await page.getByLabel('Gjenta nytt passord').fill('Et-langt-nytt-passord-2');
  await page.getByRole('button', { name: 'Bytt passord' }).click();
  await sees(form.getByText('Passordene er ikke like.'));

  await page.getByLabel('Nytt passord', { exact: true }).fill('kort');
  await page.getByLabel('Gjenta nytt passord').fill('kort');
  await page.getByRole('button', { name: 'Bytt passord' }).click();
  await sees(form.locator('.error-summary').getByText('Passordet oppfyller ikke kravene.'));
  await sees(form.locator('.error-summary').getByText('Passordet må ha minst 12 tegn.'));
  await screenshot(page, '07-bytte-passord-feil');

  const newPassword = 'Fjordbris-over-Lindesnes-7';
  await page.getByLabel('Gammelt passord').fill(USER.password);
  await page.getByLabel('Nytt passord', { exact: true }).fill(newPassword);
  await page.getByLabel('Gjenta nytt passord').fill(newPassword);
  await page.getByRole('button', { name: 'Bytt passord' }).click();
  await sees(page.getByText('Passordet er endret.'));
  assert.equal(await page.getByLabel('Gammelt passord').inputValue(), '');
  USER.password = newPassword;
});

test('Hjemmekontor: activation status, card status, the four steps and the 15-minute note', async () => {
  await page.goto(`${BASE}/hjemmekontor`);
  const section = page.locator('#hjemmekontor');
  await sees(section.getByText('Du har en konto som er aktivert for hjemmekontorløsningen.'));
  assert.equal(await textOf(section.getByRole('status')), 'Ditt Buypasskort er ikke registrert i våre systemer');
  const steps = await section.locator('.steps li .step-text').allInnerTexts();
  assert.deepEqual(steps, [
    'Gå til registreringsløsningen',
    'Logg inn med Buypasskortet ditt',
    'Du blir sendt tilbake til kundeportalen',
    'Kontoen din er klar',
  ]);
  await sees(section.getByText('Det kan ta inntil 15 minutter før hjemmekontor er klart til bruk etter oppdatering av serienummer.'));
  await sees(section.getByRole('button', { name: 'Registrer Buypasskort' }));
  assert.equal(await page.evaluate(() => document.activeElement.id), 'homeoffice-heading', '/hjemmekontor opens at its section');
  await screenshot(page, '08-hjemmekontor');
  assert.deepEqual(await lowContrastTexts(page), [], 'every text has at least 4.5:1 contrast');
});

test('/hjemmekontor?buypass=… shows the result of the Buypass round trip in Norwegian', async () => {
  const cases = [
    ['buypass=registered', 'Buypasskortet ditt er registrert. Det kan ta inntil 15 minutter før hjemmekontor er klart til bruk.'],
    ['buypass=error&reason=serial_in_use', 'Dette Buypasskortet er allerede registrert på en annen konto. Kontakt kundesenteret på 24 20 00 00.'],
    ['buypass=error&reason=login_cancelled', 'Du avbrøt innloggingen hos Buypass. Buypasskortet ble ikke registrert.'],
    ['buypass=error&reason=something_new', 'Buypasskortet ble ikke registrert. Prøv igjen, eller kontakt kundesenteret på 24 20 00 00.'],
  ];
  for (const [query, message] of cases) {
    await page.goto(`${BASE}/hjemmekontor?${query}`);
    await sees(page.locator('#hjemmekontor').getByText(message));
    assert.equal(new URL(page.url()).search, '', 'the result is taken out of the address');
  }
  await page.goto(`${BASE}/hjemmekontor?buypass=error&reason=certificate_invalid`);
  await sees(page.getByText(/Sertifikatet på Buypasskortet er ikke gyldig/));
  await screenshot(page, '09-hjemmekontor-feil');
  assertClean(page);
});

test('the account page fits a phone screen', async () => {
  await page.setViewportSize({ width: 360, height: 780 });
  await page.goto(`${BASE}/konto`);
  await sees(fact('Brukernavn'));
  await page.locator('.steps').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (overflow ${overflow}px)`);
  await screenshot(page, '10-konto-mobil');
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('Logg ut ends the session: a reload stays logged out', async () => {
  await page.goto(`${BASE}/konto`);
  await page.getByRole('button', { name: 'Logg ut', exact: true }).click();
  await sees(page.getByText('Du er logget ut.'));
  await sees(page.getByRole('heading', { name: 'Innlogging' }));
  await page.goto(`${BASE}/konto`);
  await sees(page.getByRole('heading', { name: 'Innlogging' }));
  assert.equal(new URL(page.url()).pathname, '/');
  const cookies = await browser.context.cookies(BASE);
  assert.equal(cookies.find((c) => c.name === '__Host-hk_refresh'), undefined);
  assertClean(page);
});
