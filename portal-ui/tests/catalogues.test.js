// The page's text catalogues (js/i18n/*.js), without a browser: every key is in every
// language with the same placeholders, every key the code asks for exists, and every key in
// the catalogues is used. `node --test catalogues.test.js` runs it alone.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CATALOGUES, LANGUAGES, t } from '../js/i18n.js';

const JS = join(dirname(fileURLToPath(import.meta.url)), '..', 'js');

function sources(dir = JS) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'i18n' ? [] : sources(path);
    return entry.name.endsWith('.js') ? [[path, readFileSync(path, 'utf8')]] : [];
  });
}

const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

// Keys built at run time from codes: the prefix, and the codes it must cover.
const FAMILIES = {
  'buypass.error.': [
    'state_invalid', 'browser_mismatch', 'login_cancelled', 'not_smartcard', 'token_invalid', 'certificate_invalid',
    'serial_in_use', 'provider_error', 'provider_unavailable', 'home_office_not_enabled', 'account_unavailable',
    'temporary_failure', 'generic',
  ],
  'password.reason.': ['too_short', 'too_long', 'common', 'contains_username'],
  'lang.': LANGUAGES,
  'security.event.': [
    'login_completed', 'login_failed', 'login_throttled', 'code_failed', 'code_locked', 'session_revoked',
    'refresh_reuse_detected', 'password_changed', 'password_reset', 'password_reset_requested', 'phone_change_requested',
    'phone_changed', 'account_disabled', 'account_enabled', 'buypass_card_registered', 'buypass_card_replaced_notified',
    'serial_activated', 'serial_revoked', 'totp_enabled', 'totp_removed', 'passkey_added', 'passkey_removed',
    'passkey_counter_regression', 'not_me_reported', 'new_device_notified', 'step_up', 'recovery_codes_generated',
    'recovery_code_used', 'other',
  ],
};

test('every key is in every language, as text, with the same placeholders', () => {
  const nb = CATALOGUES.nb;
  assert.deepEqual(Object.keys(CATALOGUES).sort(), [...LANGUAGES].sort());
  for (const code of LANGUAGES) {
    const catalogue = CATALOGUES[code];
    assert.deepEqual(Object.keys(catalogue).sort(), Object.keys(nb).sort(), `${code}.js has other keys than nb.js`);
    for (const [key, text] of Object.entries(catalogue)) {
      assert.equal(typeof text, 'string', `${code}: ${key}`);
      assert.ok(text.trim().length > 0, `${code}: ${key} is empty`);
      assert.deepEqual(placeholders(text), placeholders(nb[key]), `${code}: ${key} has other placeholders than nb`);
    }
  }
});

test('nynorsk and English are translations, not copies of bokmål', () => {
  // Nynorsk shares many words with bokmål, but not these.
  for (const key of ['login.remember', 'login.forgot', 'code.heading', 'account.heading', 'homeoffice.heading', 'homeoffice.notRegistered', 'app.loggedOut']) {
    assert.notEqual(CATALOGUES.nn[key], CATALOGUES.nb[key], `nn: ${key}`);
  }
  // English shares only names (Bokmål, Nynorsk, English, the brand).
  const same = Object.keys(CATALOGUES.nb).filter((key) => CATALOGUES.en[key] === CATALOGUES.nb[key]);
  assert.deepEqual(same, ['chrome.brandName', 'lang.nb', 'lang.nn', 'lang.en']);
});

test('every key the code asks for exists, and every key is used', () => {
  const asked = new Set();
  const prefixes = new Set();
  for (const [, source] of sources()) {
    for (const match of source.matchAll(/\bt\(\s*'([^']+)'/g)) asked.add(match[1]);
    for (const match of source.matchAll(/\bt\(\s*`([^`$]*)\$\{/g)) prefixes.add(match[1]);
    // Keys kept in tables or state before `t()` is called.
    for (const match of source.matchAll(/'(homeoffice\.step\d|field\.\w+)'/g)) asked.add(match[1]);
    for (const match of source.matchAll(/\bkey: '([^']+)'/g)) asked.add(match[1]);
    for (const match of source.matchAll(/`([a-z]+\.[a-z]+\.)\$\{/g)) prefixes.add(match[1]);
  }
  for (const key of asked) assert.ok(Object.hasOwn(CATALOGUES.nb, key), `t('${key}') has no text`);
  for (const prefix of prefixes) assert.ok(Object.hasOwn(FAMILIES, prefix), `keys built from '${prefix}…' are not a known family`);
  for (const [prefix, codes] of Object.entries(FAMILIES)) {
    for (const code of codes) assert.ok(Object.hasOwn(CATALOGUES.nb, prefix + code), `${prefix}${code} has no text`);
  }
  const unused = Object.keys(CATALOGUES.nb).filter(
    (key) => !asked.has(key) && !Object.keys(FAMILIES).some((prefix) => key.startsWith(prefix)),
  );
  assert.deepEqual(unused, [], 'texts no code uses');
});

test('a missing key cannot pass unnoticed: it shows as ⟦key⟧ and is logged as an error', () => {
  const logged = [];
  const original = console.error;
  console.error = (...args) => logged.push(args.join(' '));
  try {
    assert.equal(t('no.such.key'), '⟦no.such.key⟧');
  } finally {
    console.error = original;
  }
  assert.deepEqual(logged, ['missing text: no.such.key (nb)']);
  assert.equal(t('code.sentTo', { phone: '+47 ••••••67' }), 'Koden er sendt på SMS til +47 ••••••67.');
});
