// Texts that depend on codes from the API, in the page's language (see i18n.js).

import { has, locale, t } from './i18n.js';

export const CUSTOMER_CENTRE = '24 20 00 00';

/** What the Buypass callback's `?buypass=error&reason=…` means (unknown reasons: the generic message). */
export function buypassError(reason) {
  const key = `buypass.error.${reason}`;
  return /^[a-z_]+$/.test(reason || '') && has(key) ? t(key, { phone: CUSTOMER_CENTRE }) : t('buypass.error.generic', { phone: CUSTOMER_CENTRE });
}

/** A `weak_password` reason, for when the problem has no `detail`. */
export function passwordReason(reason) {
  const key = `password.reason.${reason}`;
  return has(key) ? t(key) : reason;
}

/** Field errors (`errors[]` of `validation_failed`): the API's reasons are English. */
const FIELD_REASONS = [
  [/already the mobile number/, 'field.alreadyMobile'],
  [/8 digits/, 'field.eightDigits'],
  [/start with 4 or 9|not a Norwegian mobile/, 'field.notNorwegian'],
  [/6 digits/, 'field.sixDigits'],
];

const FIELD_DEFAULTS = {
  mobile: 'field.mobileInvalid',
  new_mobile: 'field.mobileInvalid',
  code: 'field.sixDigits',
  username: 'field.usernameInvalid',
};

export function fieldReason(field, reason) {
  for (const [pattern, key] of FIELD_REASONS) if (pattern.test(reason || '')) return t(key);
  return t(FIELD_DEFAULTS[field] || 'field.invalid');
}

export function seconds(n) {
  return n === 1 ? t('time.secondOne') : t('time.seconds', { n });
}

export function waitText(n) {
  if (n >= 120) return t('time.retryMinutes', { n: Math.ceil(n / 60) });
  return t('time.retryIn', { time: seconds(n) });
}

/** `2026-01-01T12:00:00Z` → "1. januar 2026 kl. 13:00" (Norwegian time, the page's language). */
export function dateTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'long', timeStyle: 'short', timeZone: 'Europe/Oslo' }).format(date);
}
