// Sikkerhet on /konto (issue 16), in a Norwegian and in an English browser: two browsers
// logged in, one ends the other (which is sent to Innlogging on its next action); the history
// shows a failed login made a moment before; «Dette var ikke meg» from /ikke-meg ends the
// session and the gateway's lookup of the card answers not active.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CATALOGUES } from '../js/i18n.js';
import { assertClean, assertOneLanguage, BASE, codeIn, createAccount, nextSms, openBrowser, screenshot, sees, smsMark, textOf } from './harness.js';

const GATEWAY_KEY = process.env.PORTAL_GATEWAY_KEY;
const browsers = [];

after(async () => {
  for (const browser of browsers) await browser.close();
});

/** A fresh browser (its own profile, so its own device cookie) whose page speaks `lang`. */
async function pageIn(lang) {
  const browser = await openBrowser({ locale: lang === 'en' ? 'en-GB' : 'nb-NO' });
  browsers.push(browser);
  const page = await browser.newPage();
  await page.goto(`${BASE}/`);
  if (lang === 'en') await page.getByRole('button', { name: 'English' }).click();
  await sees(page.getByRole('heading', { name: CATALOGUES[lang]['login.heading'], level: 1 }));
  return page;
}

/** Password and SMS code in the page's language; ends where the app sends the user. */
async function logIn(page, lang, account) {
  const T = CATALOGUES[lang];
  await page.getByLabel(T['common.username']).fill(account.username);
  await page.getByLabel(T['common.password'], { exact: true }).fill(account.password);
  const mark = await smsMark();
  await page.getByRole('button', { name: T['login.submit'], exact: true }).click();
  await sees(page.getByRole('heading', { name: T['code.heading'] }));
  const code = codeIn(await nextSms(mark, account.mobile));
  await page.getByLabel(T['common.code'], { exact: true }).fill(code);
  await page.getByRole('button', { name: T['common.confirm'], exact: true }).click();
}

async function accountPage(page, lang, account) {
  await logIn(page, lang, account);
  await sees(page.getByRole('heading', { name: CATALOGUES[lang]['account.heading'], level: 1 }));
}

for (const [lang, mobileBase] of [['nb', 94100000], ['en', 94200000]]) {
  const T = CATALOGUES[lang];
  let n = 0;
  const account = async (prefix) => {
    n += 1;
    return createAccount({ prefix, mobile: `+47${mobileBase + n}`, password: `Sikkerhet-${lang}-passord-${n}` });
  };

  test(`${lang}: two browsers logged in; one logs the other out, which lands on the login page at its next action`, async () => {
    const kari = await account('to');
    const first = await pageIn(lang);
    const second = await pageIn(lang);
    await accountPage(first, lang, kari);
    await accountPage(second, lang, kari);
    await first.reload();
    const section = first.locator('#sikkerhet');
    await sees(section.getByRole('heading', { name: T['security.heading'] }));
    const rows = section.locator('.session-row');
    await sees(rows.nth(1));
    assert.equal(await rows.count(), 2);
    assert.equal(await textOf(section.locator('.session-row[data-session="current"] .this-device')), T['security.thisDevice']);
    await assertOneLanguage(first, lang, [kari.username, 'Ola Nordmann']);
    await screenshot(first, `60-${lang}-sikkerhet-to-innlogginger`);

    const other = section.locator('.session-row[data-session="other"]');
    await other.getByRole('button', { name: new RegExp(`^${T['security.endOne']}`) }).click();
    await sees(section.getByText(T['security.ended']));
    await sees(section.locator('.session-row'));
    assert.equal(await section.locator('.session-row').count(), 1);

    // The other browser still shows its page; its next action finds the session ended.
    const stale = second.locator('#sikkerhet');
    await stale.getByRole('button', { name: T['security.endOthers'] }).click();
    await sees(second.getByRole('heading', { name: T['login.heading'], level: 1 }));
    await screenshot(second, `61-${lang}-utlogget-av-den-andre`);
    assertClean(first);
    assertClean(second);
  });

  test(`${lang}: the history shows a failed login made a moment before`, async () => {
    const kari = await account('hist');
    const page = await pageIn(lang);
    await accountPage(page, lang, kari);
    const wrong = await fetch(`${BASE}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: kari.username, password: 'Helt-feil-passord-99' }),
    });
    assert.equal(wrong.status, 401);
    await page.reload();
    const history = page.locator('#sikkerhet .history');
    await sees(history.locator('.history-row'));
    assert.equal(await textOf(history.locator('.history-row').first().locator('.status-title')), T['security.event.login_failed']);
    await sees(history.locator('.history-row[data-event="login_completed"]'));
    await assertOneLanguage(page, lang, [kari.username, 'Ola Nordmann']);
    await screenshot(page, `62-${lang}-sikkerhetshistorikk`);
    assertClean(page);
  });

  test(`${lang}: «not me» from /ikke-meg ends the session and the gateway's lookup says not active`, async () => {
    assert.ok(GATEWAY_KEY, 'PORTAL_GATEWAY_KEY is set by scripts/browser-tests.sh');
    const kari = await account('ikke');
    const page = await pageIn(lang);
    await accountPage(page, lang, kari);
    // A card, registered with the stand-in Buypass and activated.
    const section = page.locator('#hjemmekontor');
    await section.getByLabel(T['homeoffice.password'], { exact: true }).fill(kari.password);
    await section.getByRole('button', { name: T['homeoffice.register'], exact: true }).click();
    const choice = page.locator('form').filter({ has: page.getByRole('button', { name: 'Buypass ID på smartkort' }) });
    await choice.getByLabel('Testbruker').fill(kari.username);
    await choice.getByRole('button', { name: 'Buypass ID på smartkort' }).click();
    await page.waitForURL((url) => url.pathname === '/hjemmekontor');
    const serial = /([0-9A-F]{8,})/.exec(await textOf(section.locator('.card-status')))[1];
    const lookup = () => fetch(`${BASE}/v1/gateway/certificates/${serial}`, { headers: { 'x-gateway-key': GATEWAY_KEY } });
    const deadline = Date.now() + 30_000;
    while ((await lookup()).status !== 200) {
      assert.ok(Date.now() < deadline, 'the card never became active');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    // The address in the SMS notices: the confirmation, with a wrong password first.
    await page.goto(`${BASE}/ikke-meg`);
    await sees(page.getByRole('heading', { name: T['notMe.pageHeading'], level: 1 }));
    await assertOneLanguage(page, lang, [kari.username]);
    await screenshot(page, `63-${lang}-ikke-meg`);
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel(T['common.password'], { exact: true }).fill('Helt-feil-passord-99');
    await dialog.getByRole('button', { name: T['notMe.confirm'] }).click();
    await sees(dialog.getByRole('alert'));
    assert.equal((await lookup()).status, 200, 'a wrong password changes nothing');
    const mark = await smsMark();
    await dialog.getByLabel(T['common.password'], { exact: true }).fill(kari.password);
    await dialog.getByRole('button', { name: T['notMe.confirm'] }).click();
    await sees(page.getByRole('heading', { name: T['login.heading'], level: 1 }));
    await sees(page.getByText(T['notMe.done']));
    assert.equal((await lookup()).status, 404, 'the gateway lookup answers not active');
    assert.match(await nextSms(mark, kari.mobile), /\/ikke-meg/);
    // The session is over: a reload stays on the login page.
    await page.goto(`${BASE}/konto`);
    await sees(page.getByRole('heading', { name: T['login.heading'], level: 1 }));
    await screenshot(page, `64-${lang}-ikke-meg-utfort`);
    assertClean(page);
  });
}

test('/ikke-meg while logged out leads to the login and then to the confirmation', async () => {
  const kari = await createAccount({ prefix: 'lenke', mobile: '+4794300001', password: 'Lenke-fra-SMS-passord-1' });
  const page = await pageIn('nb');
  await page.goto(`${BASE}/ikke-meg`);
  await sees(page.getByRole('heading', { name: 'Innlogging', level: 1 }));
  await logIn(page, 'nb', kari);
  await sees(page.getByRole('heading', { name: 'Dette var ikke meg', level: 1 }));
  assert.equal(new URL(page.url()).pathname, '/ikke-meg');
  assertClean(page);
});
