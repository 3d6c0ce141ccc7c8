// Passkeys with Chromium's virtual authenticator (DevTools' WebAuthn domain, a platform
// authenticator that verifies the user by itself): added on /konto with a name, used at login
// instead of a code (no SMS is sent), refused when the browser signed for another origin (a
// relay in front of the portal, as a phishing page would be), and removed with the password,
// after which the login no longer offers it. The portal runs at http://localhost:<port>, so
// its relying party id is `localhost`.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  assertClean,
  assertOneLanguage,
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
} from './harness.js';

const run = promisify(execFile);
const FIXTURE = process.env.PORTAL_FIXTURE_BIN;
const browsers = [];
const portals = [];
let relay;

after(async () => {
  for (const browser of browsers) await browser.close();
  if (relay) await new Promise((resolve) => relay.server.close(resolve));
  for (const portal of portals) {
    portal.child.kill('SIGTERM');
    await new Promise((resolve) => (portal.child.exitCode !== null ? resolve() : portal.child.once('exit', resolve)));
    rmSync(portal.dataDir, { recursive: true, force: true });
  }
});

/** Another portal-local with its default own address (http://127.0.0.1:<port>) and a fresh data dir. */
async function startPortal() {
  const dataDir = mkdtempSync(join(tmpdir(), 'portal-ip-'));
  const ui = join(dirname(fileURLToPath(import.meta.url)), '..');
  const child = spawn(process.env.PORTAL_LOCAL_BIN, ['--port', '0', '--data-dir', dataDir, '--no-demo', '--ui-dir', ui], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const portal = { child, dataDir };
  portals.push(portal);
  child.stderr.resume();
  let output = '';
  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`portal-local did not start: ${output}`)), 30_000);
    child.stdout.on('data', (chunk) => {
      if (output.length < 100_000) output += chunk;
      const match = /^listening on (\S+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`portal-local exited (${code}): ${output}`)));
  });
  portal.port = address.split(':').pop();
  return portal;
}

/** A page of a fresh Chromium with a virtual passkey authenticator; returns the page and a DevTools session. */
async function pageWithAuthenticator(locale = 'nb-NO') {
  const browser = await openBrowser({ locale });
  browsers.push(browser);
  const page = await browser.newPage();
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  return { browser, page, credentials };
}

async function logOut(page, { button = 'Logg ut', done = 'Du er logget ut.' } = {}) {
  await page.getByRole('button', { name: button, exact: true }).click();
  await sees(page.getByText(done));
}

/** The password step of the login at `base`; ends on "Bekreft kode". */
async function passwordStep(page, account, base = BASE) {
  await page.goto(`${base}/`);
  await page.getByLabel('Brukernavn').fill(account.username);
  await page.getByLabel('Passord', { exact: true }).fill(account.password);
  const answer = page.waitForResponse((r) => r.url().endsWith('/v1/auth/login'));
  await page.getByRole('button', { name: 'Logg inn' }).click();
  await sees(page.getByRole('heading', { name: 'Bekreft kode' }));
  return (await answer).json();
}

/**
 * A relay on another origin (`http://localhost:<other port>`) that passes every request on to
 * the portal and keeps what the portal answered on the API, as a phishing proxy would: the
 * user types the real password into it, and the browser signs the passkey challenge for it.
 */
async function startRelay() {
  const target = new URL(BASE);
  const seen = [];
  const server = createServer((incoming, outgoing) => {
    const chunks = [];
    incoming.on('data', (chunk) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers = { ...incoming.headers, host: target.host };
      const forward = request(
        { host: '127.0.0.1', port: target.port, method: incoming.method, path: incoming.url, headers },
        (answer) => {
          const parts = [];
          answer.on('data', (chunk) => parts.push(chunk));
          answer.on('end', () => {
            const text = Buffer.concat(parts);
            if (incoming.url.startsWith('/v1/')) {
              seen.push({
                path: incoming.url,
                request: body.toString('utf8'),
                status: answer.statusCode,
                body: text.toString('utf8'),
                setCookie: answer.headers['set-cookie'] || [],
              });
            }
            outgoing.writeHead(answer.statusCode, answer.headers);
            outgoing.end(text);
          });
        },
      );
      forward.on('error', () => {
        outgoing.writeHead(502);
        outgoing.end();
      });
      forward.end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://localhost:${server.address().port}`, seen };
}

const account = await createAccount({ prefix: 'pk', mobile: '+4795500001', password: 'Passnokkel-i-lomma-2026' });
const NAME = 'Jobb-PC';
let user;

before(async () => {
  user = await pageWithAuthenticator();
});

test('Passnøkler on /konto: a passkey is added with a name and the password, and listed', async () => {
  const { page, credentials } = user;
  await login(page, account);
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));
  const section = page.locator('#passnokler');
  await sees(section.getByRole('heading', { name: 'Passnøkler', level: 2 }));
  await sees(section.getByText('Du har ingen passnøkler ennå.'));

  await section.getByRole('button', { name: 'Legg til passnøkkel' }).click();
  const name = section.getByLabel('Navn på passnøkkelen');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'name', 'the name field has focus');
  await section.getByRole('button', { name: 'Lag passnøkkel' }).click();
  await sees(section.locator('.error-summary').getByText('Gi passnøkkelen et navn.'));
  assert.equal(await name.getAttribute('aria-invalid'), 'true');

  await name.fill(NAME);
  await section.getByLabel('Passord', { exact: true }).fill('Ikke-riktig-passord-1');
  await section.getByRole('button', { name: 'Lag passnøkkel' }).click();
  await sees(section.locator('.error-summary').getByText('Feil passord.'));
  assert.equal(await section.getByLabel('Passord', { exact: true }).inputValue(), '', 'the wrong password is cleared');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'password', 'focus is back on the password');
  assert.deepEqual(await credentials(), [], 'no passkey was made after a wrong password');

  const mark = await smsMark();
  await section.getByLabel('Passord', { exact: true }).fill(account.password);
  await section.getByRole('button', { name: 'Lag passnøkkel' }).click();
  await sees(section.getByText(`Passnøkkelen «${NAME}» er lagt til. Neste gang du logger inn, kan du bruke den i stedet for kode.`));
  const rows = section.locator('li.passkey');
  assert.equal(await rows.count(), 1);
  assert.equal(await textOf(rows.first().locator('.status-title')), NAME);
  assert.match(await textOf(rows.first().getByText(/^Lagt til /)), /^Lagt til \d{1,2}\. \p{L}+ \d{4} kl\. \d{2}:\d{2}$/u);
  await sees(rows.first().getByText('Ikke brukt ennå'));
  await sees(section.getByRole('button', { name: `Fjern passnøkkelen ${NAME}` }));

  const made = await credentials();
  assert.equal(made.length, 1, 'the authenticator holds one passkey');
  assert.equal(made[0].rpId, 'localhost', "the relying party is the portal's host");
  assert.match(await nextSms(mark, account.mobile), /passnøkkel/i, 'the phone is told about the new passkey');
  await assertOneLanguage(page, 'nb', [account.username, 'Ola Nordmann', '+47 955 00 001', NAME]);
  await screenshot(page, '50-passnokler-lagt-til');

  // The same device again: the portal excludes the passkeys it has, and the browser says so.
  await section.getByRole('button', { name: 'Legg til passnøkkel' }).click();
  await section.getByLabel('Navn på passnøkkelen').fill('Jobb-PC igjen');
  await section.getByLabel('Passord', { exact: true }).fill(account.password);
  await section.getByRole('button', { name: 'Lag passnøkkel' }).click();
  // The account has a passkey now and this session began with an SMS code: adding another
  // factor needs the one it has first (the virtual authenticator answers the dialog's request).
  const dialog = page.getByRole('dialog', { name: 'Bekreft at det er deg' });
  await sees(dialog);
  assert.equal(await dialog.getByLabel('Kode fra autentiseringsappen').count(), 0, 'no app to offer');
  await screenshot(page, '50b-bekreft-med-passnokkel');
  await dialog.getByRole('button', { name: 'Bruk passnøkkel' }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  const refused = section.getByRole('alert');
  await sees(refused.getByText('Passnøkkelen ble ikke laget.'));
  await sees(refused.getByText('Denne enheten har allerede en passnøkkel for kontoen din.'));
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Lag passnøkkel', 'focus is on the button to try again');
  assert.equal((await credentials()).length, 1, 'no second passkey on the device');
  await section.getByRole('button', { name: 'Avbryt' }).click();
  assert.equal(await section.locator('li.passkey').count(), 1);
  await section.screenshot({ path: `${process.env.BROWSER_ARTIFACTS}/50a-passnokler-seksjon.png` });
  assertClean(page);
  await logOut(page);
});

test('login offers the passkey first: "Bruk passnøkkel" logs in, and no SMS is sent', async () => {
  const { page, credentials } = user;
  const mark = await smsMark();
  const answer = await passwordStep(page, account);
  assert.deepEqual(answer.methods, ['passkey', 'sms', 'recovery_code']);
  assert.equal(answer.passkey.publicKey.rpId, 'localhost');
  await sees(page.getByText('Bekreft innloggingen med passnøkkelen din. Nettleseren spør etter fingeren, ansiktet eller PIN-koden din.'));
  await sees(page.getByRole('button', { name: 'Send meg en kode på SMS i stedet' }));
  assert.equal(await page.getByLabel('Kode', { exact: true }).isVisible(), false, 'no code field while the passkey is asked for');
  const use = page.getByRole('button', { name: 'Bruk passnøkkel', exact: true });
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Bruk passnøkkel', 'the passkey button has focus');
  await screenshot(page, '51-bekreft-kode-passnokkel');
  assertClean(page);

  const before = (await credentials())[0].signCount;
  await use.click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));
  assert.equal(new URL(page.url()).pathname, '/konto');
  assert.ok((await credentials())[0].signCount > before, 'the authenticator signed');
  await assert.rejects(nextSms(mark, account.mobile, { timeoutMs: 500 }), 'no SMS was sent');
  const row = page.locator('#passnokler li.passkey').first();
  assert.match(await textOf(row.getByText(/^Sist brukt /)), /^Sist brukt \d{1,2}\. \p{L}+ \d{4} kl\. \d{2}:\d{2}$/u);
  assertClean(page);
  await logOut(page);
});

test('another origin: the browser signs for the relay, the portal refuses it, and no session opens', async () => {
  const { page } = user;
  relay = await startRelay();
  // The user is lured to the relay, which shows the real portal's pages and passes on the
  // real password: the portal starts a real login and sends the passkey challenge.
  const answer = await passwordStep(page, account, relay.origin);
  assert.ok(answer.methods.includes('passkey'));
  await page.getByRole('button', { name: 'Bruk passnøkkel', exact: true }).click();

  // What the user sees: still "Bekreft kode", the refusal, and one attempt used.
  const summary = page.getByRole('alert');
  await sees(summary.getByText('Passnøkkelen ble ikke godtatt.'));
  await sees(summary.getByText('Du har 4 forsøk igjen.'));
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Bruk passnøkkel', 'focus is back on the button to try again');
  await sees(page.getByRole('heading', { name: 'Bekreft kode' }));
  assert.equal(new URL(page.url()).pathname, '/kode');
  await screenshot(page, '52-passnokkel-feil-opprinnelse');
  assertClean(page);

  // What the relay got: an assertion signed for its own origin, and a refusal without a
  // token or a session cookie.
  const verify = relay.seen.find((r) => r.path === '/v1/auth/passkey/verify');
  assert.ok(verify, 'the assertion went through the relay');
  const sent = JSON.parse(verify.request);
  const clientData = JSON.parse(Buffer.from(sent.credential.response.clientDataJSON, 'base64url').toString('utf8'));
  assert.equal(clientData.origin, relay.origin, 'the browser signed for the origin it was on');
  assert.equal(clientData.type, 'webauthn.get');
  assert.equal(verify.status, 400);
  const refusal = JSON.parse(verify.body);
  assert.equal(refusal.code, 'invalid_code');
  assert.equal(refusal.attempts_left, 4);
  for (const seen of relay.seen) {
    assert.ok(!/access_token|refresh_token/.test(seen.body), `no token in the answer to ${seen.path}`);
    assert.ok(!seen.setCookie.some((c) => /hk_refresh=[^;]/.test(c)), `no session cookie in the answer to ${seen.path}`);
  }

  // Replayed from anywhere else, the captured assertion still names the relay's origin.
  const replay = await fetch(`${BASE}/v1/auth/passkey/verify`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: verify.request,
  });
  assert.equal(replay.status, 400);
  assert.equal((await replay.json()).code, 'invalid_code');
  assert.equal(replay.headers.get('set-cookie'), null);

  // The relay's page holds no session either.
  await page.goto(`${relay.origin}/konto`);
  await sees(page.getByRole('heading', { name: 'Innlogging', level: 1 }));
});

test('a browser without WebAuthn is told so on "Bekreft kode" and logs in with an SMS code instead', async () => {
  const { browser } = user;
  const page = await browser.newPage();
  await page.addInitScript(() => {
    delete window.PublicKeyCredential;
  });
  await passwordStep(page, account);
  await sees(page.getByText('Kontoen din har en passnøkkel, men denne nettleseren kan ikke bruke passnøkler. Få en kode på SMS i stedet.'));
  assert.equal(await page.getByRole('button', { name: 'Bruk passnøkkel', exact: true }).count(), 0);
  const mark = await smsMark();
  await page.getByRole('button', { name: 'Send meg en kode på SMS i stedet' }).click();
  await sees(page.getByText(/Fyll inn koden som ble tilsendt på SMS til \+47 ••••••01\./));
  await page.getByLabel('Kode', { exact: true }).fill(codeIn(await nextSms(mark, account.mobile)));
  await page.getByRole('button', { name: 'Bekreft', exact: true }).click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));
  const section = page.locator('#passnokler');
  await sees(section.getByText('Denne nettleseren kan ikke bruke passnøkler. Bruk en nyere nettleser for å legge til en passnøkkel.'));
  assert.equal(await section.getByRole('button', { name: 'Legg til passnøkkel' }).count(), 0);
  await sees(section.locator('li.passkey').getByText(NAME));
  assertClean(page);
  await logOut(page);
  await page.close();
});

test('on an IP address, where there is no relying party, both screens say so and SMS logs in', async () => {
  const { page } = user;
  const ip = BASE.replace('//localhost:', '//127.0.0.1:');
  await passwordStep(page, account, ip);
  await sees(page.getByText('Kontoen din har en passnøkkel, men den kan ikke brukes på denne adressen. Få en kode på SMS i stedet.'));
  assert.equal(await page.getByRole('button', { name: 'Bruk passnøkkel', exact: true }).count(), 0);
  const mark = await smsMark();
  await page.getByRole('button', { name: 'Send meg en kode på SMS i stedet' }).click();
  await page.getByLabel('Kode', { exact: true }).fill(codeIn(await nextSms(mark, account.mobile)));
  await page.getByRole('button', { name: 'Bekreft', exact: true }).click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));
  const section = page.locator('#passnokler');
  await sees(section.getByText('Passnøkler kan ikke brukes når kundeportalen er åpnet på denne adressen.'));
  assert.equal(await section.getByRole('button', { name: 'Legg til passnøkkel' }).count(), 0);
  await sees(section.locator('li.passkey').getByText(NAME));
  await screenshot(page, '52b-passnokler-ip-adresse');
  assertClean(page);
  await logOut(page);
});

test('a portal whose PORTAL_URL is an IP address offers no passkeys: adding one is answered 503 and the section explains', async () => {
  // portal-local's default own address is http://127.0.0.1:<port>; its pages reached through
  // http://localhost:<port> could use WebAuthn, but the API has no relying party.
  const other = await startPortal();
  const base = `http://localhost:${other.port}`;
  const ipAccount = { username: 'pkip1', password: 'Ingen-passnokkel-her-2026', mobile: '+4795500003' };
  await run(FIXTURE, ['--data-dir', other.dataDir, 'create-account', '--username', ipAccount.username, '--name', 'Ola Nordmann', '--mobile', ipAccount.mobile], {
    env: { ...process.env, PORTAL_NEW_PASSWORD: ipAccount.password },
  });
  const browser = await openBrowser();
  browsers.push(browser);
  const page = await browser.newPage();
  const sent = async () => (await (await fetch(`${base}/dev/sms`)).json()).filter((m) => m.to === ipAccount.mobile);
  const answer = await passwordStep(page, ipAccount, base);
  assert.deepEqual(answer.methods, ['sms'], 'no passkey at login');
  let messages = [];
  for (let i = 0; i < 100 && !messages.length; i += 1) {
    messages = await sent();
    if (!messages.length) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await page.getByLabel('Kode', { exact: true }).fill(codeIn(messages[0].body));
  await page.getByRole('button', { name: 'Bekreft', exact: true }).click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));

  const section = page.locator('#passnokler');
  await section.getByRole('button', { name: 'Legg til passnøkkel' }).click();
  await section.getByLabel('Navn på passnøkkelen').fill('Nettbrett');
  await section.getByLabel('Passord', { exact: true }).fill(ipAccount.password);
  const started = page.waitForResponse((r) => r.url().endsWith('/v1/account/passkeys') && r.request().method() === 'POST');
  await section.getByRole('button', { name: 'Lag passnøkkel' }).click();
  const refusal = await started;
  assert.equal(refusal.status(), 503);
  assert.equal((await refusal.json()).code, 'passkeys_unavailable');
  await sees(section.getByText('Passnøkler kan ikke brukes når kundeportalen er åpnet på denne adressen.'));
  assert.equal(await section.getByText('Passnøkler kan ikke brukes når kundeportalen er åpnet på denne adressen.').count(), 1, 'said once');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'passkeys-heading', 'focus on the section, before the explanation');
  await sees(section.getByText('Du har ingen passnøkler ennå.'));
  assert.equal(await section.getByRole('button', { name: 'Legg til passnøkkel' }).count(), 0);
  await screenshot(page, '52c-passnokler-ingen-rp');
  assertClean(page);
});

test('removed with the password: the login no longer offers a passkey', async () => {
  const { page } = user;
  // SMS first, then back to the passkey: the way out works both ways.
  await passwordStep(page, account);
  const mark = await smsMark();
  await page.getByRole('button', { name: 'Send meg en kode på SMS i stedet' }).click();
  await sees(page.getByText(/Fyll inn koden som ble tilsendt på SMS til \+47 ••••••01\./));
  codeIn(await nextSms(mark, account.mobile));
  await page.getByRole('button', { name: 'Logg inn med passnøkkel i stedet' }).click();
  await page.getByRole('button', { name: 'Bruk passnøkkel', exact: true }).click();
  await sees(page.getByRole('heading', { name: 'Kontoopplysninger' }));

  const section = page.locator('#passnokler');
  const removeButton = section.getByRole('button', { name: `Fjern passnøkkelen ${NAME}` });
  await removeButton.click();
  await section.getByRole('button', { name: 'Avbryt' }).click();
  assert.equal(await section.getByLabel('Passord', { exact: true }).count(), 0, 'cancelled: no password field');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), `Fjern passnøkkelen ${NAME}`, 'focus back on «Fjern»');
  await removeButton.click();
  await sees(section.getByText(`Skriv inn passordet ditt for å fjerne passnøkkelen «${NAME}».`));
  await section.getByLabel('Passord', { exact: true }).fill('Ikke-riktig-passord-1');
  await section.getByRole('button', { name: 'Fjern passnøkkel', exact: true }).click();
  await sees(section.locator('.error-summary').getByText('Feil passord.'));
  assert.equal(await section.locator('li.passkey').count(), 1, 'still there after a wrong password');
  await section.screenshot({ path: `${process.env.BROWSER_ARTIFACTS}/53a-passnokkel-fjern-feil-passord.png` });
  await section.getByLabel('Passord', { exact: true }).fill(account.password);
  await section.getByRole('button', { name: 'Fjern passnøkkel', exact: true }).click();
  await sees(section.getByText(`Passnøkkelen «${NAME}» er fjernet.`));
  await sees(section.getByText('Du har ingen passnøkler ennå.'));
  assert.equal(await section.locator('li.passkey').count(), 0);
  await screenshot(page, '53-passnokkel-fjernet');
  assertClean(page);
  await logOut(page);

  const again = await smsMark();
  const answer = await passwordStep(page, account);
  assert.deepEqual(answer.methods, ['sms']);
  assert.equal(answer.passkey, undefined);
  await sees(page.getByText(/Fyll inn koden som ble tilsendt på SMS til \+47 ••••••01\./));
  assert.equal(await page.getByRole('button', { name: 'Bruk passnøkkel', exact: true }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Logg inn med passnøkkel i stedet' }).count(), 0);
  codeIn(await nextSms(again, account.mobile));
  assertClean(page);
});

test('in English: every text of the passkey section and of the passkey login is English', async () => {
  const english = await createAccount({ prefix: 'pken', name: 'Emma Nordmann', mobile: '+4795500002', password: 'English-Passkey-Pass-2026' });
  const data = [english.username, 'Emma Nordmann', '+47 955 00 002', 'My laptop'];
  const { page, credentials } = await pageWithAuthenticator('en-GB');
  await page.goto(`${BASE}/`);
  await page.getByRole('button', { name: 'English' }).click();
  await sees(page.getByRole('heading', { name: 'Log in', level: 1 }));
  await page.getByLabel('Username').fill(english.username);
  await page.getByLabel('Password', { exact: true }).fill(english.password);
  let mark = await smsMark();
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await sees(page.getByRole('heading', { name: 'Confirm code' }));
  await page.getByLabel('Code', { exact: true }).fill(codeIn(await nextSms(mark, english.mobile)));
  await page.getByRole('button', { name: 'Confirm', exact: true }).click();

  const section = page.locator('#passnokler');
  await sees(section.getByRole('heading', { name: 'Passkeys', level: 2 }));
  await sees(section.getByText('You have no passkeys yet.'));
  await section.getByRole('button', { name: 'Add a passkey' }).click();
  await section.getByLabel('Name of the passkey').fill('My laptop');
  await section.getByLabel('Password', { exact: true }).fill(english.password);
  await section.getByRole('button', { name: 'Create passkey' }).click();
  await sees(section.getByText('The passkey “My laptop” has been added. Next time you log in, you can use it instead of a code.'));
  await sees(section.getByText('Not used yet'));
  assert.equal((await credentials()).length, 1);
  await assertOneLanguage(page, 'en', data);
  await screenshot(page, '54-en-passkeys');
  await logOut(page, { button: 'Log out', done: 'You are logged out.' });

  mark = await smsMark();
  await page.getByLabel('Username').fill(english.username);
  await page.getByLabel('Password', { exact: true }).fill(english.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await sees(page.getByText('Confirm the login with your passkey. Your browser asks for your fingerprint, face or PIN.'));
  await sees(page.getByRole('button', { name: 'Send me a code by text message instead' }));
  await assertOneLanguage(page, 'en', data);
  await page.getByRole('button', { name: 'Use passkey', exact: true }).click();
  await sees(page.getByRole('heading', { name: 'Account details' }));
  await sees(section.getByText(/^Last used /));
  await assertOneLanguage(page, 'en', data);
  await assert.rejects(nextSms(mark, english.mobile, { timeoutMs: 500 }), 'no SMS was sent');
  assertClean(page);
});
