// Shared by the browser tests: the running portal (started by scripts/browser-tests.sh), its
// SMS outbox, accounts made with portal-admin, Chromium, and screenshots as artefacts.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { CATALOGUES, LANGUAGES } from '../js/i18n.js';

const run = promisify(execFile);

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests with scripts/browser-tests.sh`);
  return value;
}

export const BASE = required('PORTAL_BASE_URL');
const DATA_DIR = required('PORTAL_DATA_DIR');
const ADMIN = required('PORTAL_ADMIN_BIN');
const FIXTURE = required('PORTAL_FIXTURE_BIN');
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
 * Creates another account. With `password` it is the user's own (the test crate's
 * portal-fixture); without, portal-admin generates one and sends it by SMS, and it must be
 * changed at first login.
 */
export async function createAccount({ prefix, name = 'Ola Nordmann', mobile, password, homeOffice = true }) {
  accountCounter += 1;
  const username = `${prefix}${process.pid % 1000}${accountCounter}`;
  const args = ['--data-dir', DATA_DIR, 'create-account', '--username', username, '--name', name, '--mobile', mobile];
  if (homeOffice) args.push('--home-office');
  const env = { ...process.env };
  if (password) env.PORTAL_NEW_PASSWORD = password;
  else delete env.PORTAL_NEW_PASSWORD;
  await run(password ? FIXTURE : ADMIN, args, { env });
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
 * Chromium (Debian's) with a fresh profile and the browser language of `locale`. Console
 * errors about missing texts, CSP violations and uncaught errors are collected per page in
 * `page.problems`.
 */
export async function openBrowser({ viewport = { width: 1280, height: 900 }, locale = 'nb-NO' } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'portal-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    viewport,
    locale,
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
        if (/Content Security Policy|Refused to|missing text/i.test(text)) page.problems.push(text);
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

/** RFC 6238 code (HMAC-SHA-1, 6 digits, 30 s) of a base32 `secret`, `stepOffset` steps from now. */
export function totp(secret, stepOffset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of secret.replace(/[\s=]/g, '').toUpperCase()) {
    const index = alphabet.indexOf(char);
    assert.ok(index >= 0, `not base32: ${char}`);
    bits += index.toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => Number.parseInt(byte, 2)));
  const step = Math.floor(Date.now() / 1000 / 30) + stepOffset;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

/**
 * The codes of one authenticator app as a careful user types them: the server accepts a time
 * step's code once, so `next()` gives a code of a step after the last one used, waiting (less
 * than 30 s) until one is within the server's one-step drift window.
 */
export function appCodes(secret) {
  const stepNow = () => Math.floor(Date.now() / 1000 / 30);
  let lastUsedStep = 0;
  return {
    async next() {
      while (stepNow() + 1 <= lastUsedStep) await new Promise((resolve) => setTimeout(resolve, 500));
      const offset = stepNow() > lastUsedStep ? 0 : 1;
      lastUsedStep = stepNow() + offset;
      return totp(secret, offset);
    },
  };
}

/** A 6-digit code that is none of the app's codes near now (so certainly wrong). */
export function wrongTotp(secret) {
  const near = new Set([-2, -1, 0, 1, 2].map((offset) => totp(secret, offset)));
  return ['000000', '111111', '222222', '333333', '444444', '555555'].find((code) => !near.has(code));
}

/**
 * Visible texts whose colour has less than 4.5:1 contrast against the background behind them
 * (WCAG 2 relative luminance; the background is the nearest opaque one among the ancestors).
 */
export async function lowContrastTexts(page) {
  return page.evaluate(() => {
    const rgb = (css) => (css.match(/[\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => {
      const f = (c) => {
        const s = c / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (element) => {
      for (let e = element; e; e = e.parentElement) {
        const color = rgb(getComputedStyle(e).backgroundColor);
        if (color.length === 3 || (color.length === 4 && color[3] === 1)) return color.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const offenders = [];
    for (const element of document.querySelectorAll('body *')) {
      const hasText = [...element.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
      if (!hasText || !element.checkVisibility() || element.closest('.sr-only')) continue;
      const style = getComputedStyle(element);
      const [a, b] = [luminance(rgb(style.color)), luminance(background(element))].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      if (ratio < 4.5) offenders.push(`${element.textContent.trim().slice(0, 40)} (${ratio.toFixed(2)}:1)`);
    }
    return offenders;
  });
}

// ---- one language per page -------------------------------------------------------------------

const API_CATALOGUES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'functions', 'core', 'i18n');

/** The API's problem titles in `lang` (`key = text` lines of functions/core/i18n/<lang>.ftl). */
function apiTexts(lang) {
  return readFileSync(join(API_CATALOGUES, `${lang}.ftl`), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && line.includes(' = '))
    .map((line) => line.slice(line.indexOf(' = ') + 3).trim());
}

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every text of `lang` (page and API) as a whole-string pattern; `{x}` stands for anything. */
function patterns(lang) {
  return [...Object.values(CATALOGUES[lang]), ...apiTexts(lang)].map(
    (text) => new RegExp(`^${text.trim().split(/\{\w+\}/).map(escape).join('.+')}$`),
  );
}

const PATTERNS = Object.fromEntries(LANGUAGES.map((lang) => [lang, patterns(lang)]));

// Digits, phone numbers, masked numbers, step marks: no language.
const NO_LANGUAGE = /^[\d\s+•:().,\-–✓·]*$/;

/** Every text a user can see or hear on the page: text nodes, labels for assistive tech, the title. */
async function pageTexts(page) {
  return page.evaluate(() => {
    const texts = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent.replace(/\s+/g, ' ').trim();
      const element = node.parentElement;
      // translate="no" marks data shown as it is (a device name, a date in the page's locale).
      if (!text || !element || element.closest('[hidden], noscript, script, style, [translate="no"]')) continue;
      if (!element.checkVisibility() && !element.closest('.sr-only')) continue;
      texts.push(text);
    }
    for (const element of document.querySelectorAll('[aria-label], [alt], [placeholder], [title]')) {
      if (element.closest('[hidden]') || !element.checkVisibility()) continue;
      for (const name of ['aria-label', 'alt', 'placeholder', 'title']) {
        const value = element.getAttribute(name);
        if (value && value.trim()) texts.push(value.trim());
      }
    }
    texts.push(document.title);
    return texts;
  });
}

/**
 * Every text on the page is from the catalogues of `lang` (the page's and the API's), or is
 * `data` (the user's name, username…) or has no language (digits). Fails naming each text
 * that is not, and which other language it is from.
 */
export async function assertOneLanguage(page, lang, data = []) {
  assert.equal(await page.getAttribute('html', 'lang'), lang, 'the page says its language');
  const offenders = [];
  for (const text of await pageTexts(page)) {
    if (NO_LANGUAGE.test(text) || data.includes(text)) continue;
    if (PATTERNS[lang].some((pattern) => pattern.test(text))) continue;
    const from = LANGUAGES.filter((other) => PATTERNS[other].some((pattern) => pattern.test(text)));
    offenders.push(`${JSON.stringify(text)} (${from.length ? `from ${from.join(', ')}` : 'from no catalogue'})`);
  }
  assert.deepEqual(offenders, [], `texts on ${new URL(page.url()).pathname} that are not ${lang}`);
}
