// Norwegian texts that depend on codes from the API.

export const CUSTOMER_CENTRE = '24 20 00 00';

/** What the Buypass callback's `?buypass=error&reason=…` means, one message per reason. */
export const BUYPASS_ERRORS = {
  state_invalid:
    'Registreringen kunne ikke fullføres fordi lenken var utløpt eller allerede brukt. Start registreringen på nytt.',
  browser_mismatch:
    'Registreringen må fullføres i den samme nettleseren som du startet den i. Start registreringen på nytt.',
  login_cancelled: 'Du avbrøt innloggingen hos Buypass. Buypasskortet ble ikke registrert.',
  not_smartcard:
    'Du logget inn hos Buypass uten smartkort. Sett Buypasskortet i kortleseren, start registreringen på nytt og velg «Buypass ID på smartkort».',
  certificate_invalid:
    'Sertifikatet på Buypasskortet er ikke gyldig (utløpt, sperret eller ikke utstedt av Buypass). Kontakt Buypass på telefon 61 13 59 20.',
  serial_in_use: `Dette Buypasskortet er allerede registrert på en annen konto. Kontakt kundesenteret på ${CUSTOMER_CENTRE}.`,
  home_office_not_enabled: `Kontoen din er ikke aktivert for hjemmekontorløsningen. Kontakt kundesenteret på ${CUSTOMER_CENTRE}.`,
  account_unavailable: `Kontoen din er ikke tilgjengelig. Kontakt kundesenteret på ${CUSTOMER_CENTRE}.`,
  provider_error: 'Buypass avviste innloggingen. Prøv igjen.',
  provider_unavailable: 'Vi fikk ikke kontakt med Buypass. Prøv igjen om litt.',
  token_invalid: 'Svaret fra Buypass kunne ikke bekreftes. Prøv igjen.',
  temporary_failure: 'En midlertidig feil hindret registreringen. Prøv igjen om litt.',
};

export const BUYPASS_ERROR_GENERIC = `Buypasskortet ble ikke registrert. Prøv igjen, eller kontakt kundesenteret på ${CUSTOMER_CENTRE}.`;

export const BUYPASS_REGISTERED =
  'Buypasskortet ditt er registrert. Det kan ta inntil 15 minutter før hjemmekontor er klart til bruk.';

/** The message for a `reason` of the callback (unknown reasons get the generic message). */
export function buypassError(reason) {
  return Object.hasOwn(BUYPASS_ERRORS, reason) ? BUYPASS_ERRORS[reason] : BUYPASS_ERROR_GENERIC;
}

/** `weak_password` reasons, for when the problem has no `detail`. */
export const PASSWORD_REASONS = {
  too_short: 'Passordet må ha minst 12 tegn.',
  too_long: 'Passordet kan ha høyst 128 tegn.',
  common: 'Passordet er for vanlig og lett å gjette.',
  contains_username: 'Passordet kan ikke inneholde brukernavnet.',
};

/** Field errors (`errors[]` of `validation_failed`): the API's reasons are English. */
const FIELD_REASONS = [
  [/already the mobile number/, 'Dette er allerede mobilnummeret på kontoen.'],
  [/8 digits/, 'Et norsk mobilnummer har 8 siffer.'],
  [/start with 4 or 9|not a Norwegian mobile/, 'Dette er ikke et norsk mobilnummer (mobilnumre begynner på 4 eller 9).'],
  [/6 digits/, 'Koden er 6 siffer.'],
];

const FIELD_DEFAULTS = {
  mobile: 'Mobilnummeret er ugyldig. Skriv 8 siffer, eller + og landskode foran nummeret.',
  new_mobile: 'Mobilnummeret er ugyldig. Skriv 8 siffer, eller + og landskode foran nummeret.',
  code: 'Koden er 6 siffer.',
  username: 'Brukernavnet er ugyldig.',
};

export function fieldReason(field, reason) {
  for (const [pattern, text] of FIELD_REASONS) if (pattern.test(reason || '')) return text;
  return FIELD_DEFAULTS[field] || 'Ugyldig verdi.';
}

export function seconds(n) {
  return n === 1 ? '1 sekund' : `${n} sekunder`;
}

export function waitText(n) {
  if (n >= 120) return `Prøv igjen om ${Math.ceil(n / 60)} minutter.`;
  return `Prøv igjen om ${seconds(n)}.`;
}

/** `2026-01-01T12:00:00Z` → "1. januar 2026 kl. 13:00" (Norwegian time). */
export function dateTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat('nb-NO', { dateStyle: 'long', timeStyle: 'short', timeZone: 'Europe/Oslo' }).format(date);
}
