// Shared by the browser tests: the running portal (started by scripts/browser-tests.sh), its
// SMS outbox, accounts made with portal-admin, Chromium, and screenshots as artefacts.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests with scripts/browser-tests.sh`);
  return value;
}

export const BASE = required('PORTAL_BASE_URL');
const DATA_DIR = required('PORTAL_DATA_DIR');
const ADMIN = required('PORTAL_ADMIN_BIN');
const ARTIFACTS = required('BROWSER_ARTIFACTS');
mkdirSync(ARTIFACTS, { recursive: true });

/** The account the test script created (home office enabled, password given). */
export const USER = {
  username: required('TEST_USERNAME'),
  password: required('TEST_PASSWORD'),
  mobile: required('TEST_MOBILE'),
};

let accountCounter = 0;

/**
 * Creates another account with portal-admin. Without `password` the password is generated and
 * sent by SMS (then it must be changed at first login).
 */
export async function createAccount({ prefix, name = 'Ola Nordmann', mobile, password, homeOffice = true }) {
  accountCounter += 1;
  const username = `${prefix}${process.pid % 1000}${accountCounter}`;
  const args = ['--data-dir', DATA_DIR, 'create-account', '--username', username, '--name', name, '--mobile', mobile];
  if (homeOffice) args.push('--home-office');
  const env = { ...process.env };
  if (password) env.PORTAL_NEW_PASSWORD = password;
  else delete env.PORTAL_NEW_PASSWORD;
  await run(ADMIN, args, { env });
  return { username, password, mobile };
}

/** Every SMS portal-local has sent, newest first. */
export async function outbox() {
  const response = await fetch(`${BASE}/dev/sms`);
  assert.equal(response.status, 200);
  return response.json();
}

/** Marks the outbox now; `nextSms(mark, to)` then waits for a newer message to `to`. */
export async function smsMark() {
  return (await outbox()).length;
}

export async function nextSms(mark, to, { timeoutMs = 10_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const messages = await outbox();
    const fresh = messages.slice(0, Math.max(0, messages.length - mark)).filter((m) => m.to === to);
    if (fresh.length) return fresh[0].body;
    if (Date.now() > deadline) throw new Error(`no new SMS to ${to} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function codeIn(body) {
  const match = /\b(\d{6})\b/.exec(body);
  assert.ok(match, `no code in SMS: ${body}`);
  return match[1];
}

/** A code that is certainly not the one in `body`. */
export function wrongCode(right) {
  return right === '000000' ? '111111' : '000000';
}

/**
 * Chromium (Debian's) with a fresh profile. Console errors and CSP violations are collected
 * per page in `page.problems`.
 */
export async function openBrowser({ viewport = { width: 1280, height: 900 } } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'portal-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    viewport,
    locale: 'nb-NO',
    timezoneId: 'Europe/Oslo',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  context.setDefaultTimeout(10_000);
  return {
    context,
    async newPage() {
      const page = await context.newPage();
      page.problems = [];
      page.on('console', (message) => {
        const text = message.text();
        if (/Content Security Policy|Refused to/i.test(text)) page.problems.push(text);
      });
      page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot of the page as a test artefact. */
export async function screenshot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Waits until `locator` is visible (fails the test after the default timeout). */
export async function sees(locator) {
  await locator.first().waitFor({ state: 'visible' });
}

/** The text of the (first) element that `locator` finds, once visible. */
export async function textOf(locator) {
  await sees(locator);
  return (await locator.first().innerText()).trim();
}

/** The page has no CSP violations and no uncaught errors so far. */
export function assertClean(page) {
  assert.deepEqual(page.problems, [], 'the page logged CSP violations or errors');
}

/** Logs in through the UI up to the code screen; returns the code that was sent. */
export async function loginUntilCode(page, { username, password, mobile, rememberMe = false }, { goto = true } = {}) {
  if (goto) await page.goto(`${BASE}/`);
  await page.getByLabel('Brukernavn').fill(username);
  await page.getByLabel('Passord', { exact: true }).fill(password);
  if (rememberMe) await page.getByLabel('Husk meg').check();
  const mark = await smsMark();
  await page.getByRole('button', { name: 'Logg inn' }).click();
  await sees(page.getByRole('heading', { name: 'Bekreft kode' }));
  return codeIn(await nextSms(mark, mobile));
}

/** A whole login through the UI, ending on the account page. */
export async function login(page, account, options = {}) {
  const code = await loginUntilCode(page, account, options);
  await page.getByLabel('Kode', { exact: true }).fill(code);
  await page.getByRole('button', { name: 'Bekreft' }).click();
}
