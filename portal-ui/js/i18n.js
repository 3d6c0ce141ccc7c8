// The page's language: bokmål unless the user chose nynorsk or English with the switcher in
// the header. The choice is a plain preference cookie (no secret, no web storage), the `lang`
// of the page, and the `Accept-Language` of every API call, so problem titles from the API
// are in the same language as the page.
//
// Texts are in js/i18n/<lang>.js, one key → text table per language. `t(key, params)` fills
// in `{name}` placeholders. A key missing from the catalogue is impossible to overlook: it is
// shown as ⟦key⟧ and logged as a console error, which the browser tests fail on.

import nb from './i18n/nb.js';
import nn from './i18n/nn.js';
import en from './i18n/en.js';

export const CATALOGUES = { nb, nn, en };
export const LANGUAGES = ['nb', 'nn', 'en'];
export const DEFAULT_LANGUAGE = 'nb';

const COOKIE = 'hk_lang';
const LOCALES = { nb: 'nb-NO', nn: 'nn-NO', en: 'en-GB' };

function fromCookie() {
  const match = /(?:^|;\s*)hk_lang=([a-z]{2})(?:;|$)/.exec(typeof document === 'undefined' ? '' : document.cookie);
  return match && LANGUAGES.includes(match[1]) ? match[1] : DEFAULT_LANGUAGE;
}

let current = fromCookie();
const listeners = new Set();

/** The page's language: `nb`, `nn` or `en`. */
export function language() {
  return current;
}

/** The locale for dates and numbers in the page's language. */
export function locale() {
  return LOCALES[current];
}

/** The text of `key` in the page's language, with `{name}` placeholders from `params`. */
export function t(key, params = {}) {
  const text = CATALOGUES[current][key];
  if (typeof text !== 'string') {
    console.error(`missing text: ${key} (${current})`);
    return `⟦${key}⟧`;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(params, name) ? String(params[name]) : whole));
}

/** Whether `key` has a text (for codes from the API that may have none). */
export function has(key) {
  return typeof CATALOGUES[current][key] === 'string';
}

/** `listener(language)` runs after the language changed. */
export function onLanguageChange(listener) {
  listeners.add(listener);
}

/** Switches the page to `code`, remembers it for a year, and tells the listeners. */
export function setLanguage(code) {
  if (!LANGUAGES.includes(code)) return;
  current = code;
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = `${COOKIE}=${code}; Path=/; Max-Age=31536000; SameSite=Lax${secure}`;
  document.documentElement.lang = code;
  for (const listener of listeners) listener(code);
}
