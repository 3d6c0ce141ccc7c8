// "Bekreft kode": the second factor of the login. The code comes by SMS, or, for users with an
// authenticator app, from the app (with "send me an SMS instead"). Users with a passkey get
// "Bruk passnøkkel" first (the browser's own passkey dialog with the login answer's request
// options, then `/v1/auth/passkey/verify`), with the app and SMS as the ways out; the dialog
// opens only when the user asks for it.
//
// While an SMS code is awaited the screen (1) asks the browser for it with the WebOTP API where
// there is one: the SMS ends with "@<portal host> #<code>", so the browser offers it only on
// this origin; and (2) asks the API now and then whether the carrier reported the SMS
// undelivered, and then offers the authenticator app when the account has one.

import * as api from '../api.js';
import { resendControl } from '../countdown.js';
import { announce, busy, clearErrors, codeValue, field, form, h, input, link, replace, showProblem, showSummary } from '../dom.js';
import { t } from '../i18n.js';
import { recoveryCodeOption } from '../stepup.js';
import { CUSTOMER_CENTRE } from '../texts.js';
import { passkeyObstacle, usePasskey } from '../webauthn.js';

/** How often the screen asks whether the SMS was reported undelivered. */
const DELIVERY_POLL_MS = 10000;

/**
 * Fills the code field from the SMS through the WebOTP API (Chromium on Android); harmless
 * where the API is missing. Returns a function that stops waiting (navigation away).
 */
function awaitSmsCode(codeForm) {
  if (typeof window === 'undefined' || !('OTPCredential' in window) || !navigator.credentials) return () => {};
  const controller = new AbortController();
  navigator.credentials
    .get({ otp: { transport: ['sms'] }, signal: controller.signal })
    .then((otp) => {
      if (!otp || !otp.code) return;
      const field = input(codeForm, 'code');
      field.value = otp.code;
      codeForm.requestSubmit();
    })
    .catch(() => {}); // aborted, refused by the user, or no SMS: the field stays as it is
  return () => controller.abort();
}

function expired() {
  return h(
    'section',
    { class: 'card narrow' },
    h('h1', {}, t('code.heading')),
    h('p', {}, t('code.expired')),
    h('p', {}, link('/', t('common.toLogin'))),
  );
}

export function render(context) {
  const { data, signedIn, onDispose } = context;
  if (!data || !data.challenge) return expired();
  const { challenge } = data;
  const methods = challenge.methods || [];
  const hasTotp = methods.includes('totp');
  const hasPasskey = methods.includes('passkey') && Boolean(challenge.passkey);
  // Why this browser cannot use the passkey (null: it can).
  const obstacle = hasPasskey ? passkeyObstacle() : null;
  const passkeyUsable = hasPasskey && !obstacle;
  // No SMS has been sent when the account has another factor: that one first (the passkey,
  // unless this browser cannot use it and there is an app to use instead).
  let mode = passkeyUsable || (hasPasskey && !hasTotp) ? 'passkey' : hasTotp ? 'totp' : 'sms';

  const instructions = h('p', { id: 'code-instructions' });
  const codeField = field({
    name: 'code',
    label: t('common.code'),
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    maxlength: '7',
    pattern: '[0-9 ]*',
    required: true,
  });
  const submit = h('button', { type: 'submit' }, t('common.confirm'));
  const codeForm = form({ class: 'stack', 'aria-describedby': 'code-instructions' }, codeField, h('div', { class: 'actions' }, submit));

  const resend = resendControl({
    after: mode === 'sms' ? challenge.resend_after : 0,
    resend: () => api.resendCode(challenge.challenge_id),
    onSent: () => {
      clearErrors(codeForm);
      announce(t('common.newCodeSent'));
      // A new SMS: whatever happened to the last one no longer matters.
      told = false;
      replace(undelivered);
    },
    onProblem: (problem) => showProblem(codeForm, problem),
  });
  onDispose(resend.dispose);
  // WebOTP's wait for the SMS is a pending `navigator.credentials.get` too: stopped while the
  // passkey dialog is wanted (a browser runs one such request at a time).
  let stopSmsWait = () => {};
  function awaitSms() {
    stopSmsWait();
    stopSmsWait = awaitSmsCode(codeForm);
  }
  onDispose(() => stopSmsWait());
  if (mode !== 'passkey') awaitSms();

  function toTotp() {
    mode = 'totp';
    show();
    input(codeForm, 'code').focus();
  }
  const switchToTotp = h('button', { type: 'button', class: 'button-secondary' }, t('code.switchToTotp'));
  switchToTotp.addEventListener('click', toTotp);
  const passkeyToTotp = h('button', { type: 'button', class: 'button-secondary' }, t('code.switchToTotp'));
  passkeyToTotp.addEventListener('click', toTotp);

  // The passkey: a form with one button, so its errors have the same summary as the code's.
  const passkeyButton = h('button', { type: 'submit' }, t('code.usePasskey'));
  const passkeyForm = form({ class: 'stack', 'aria-describedby': 'code-instructions' }, h('div', { class: 'actions' }, passkeyButton));
  const passkeyAbort = new AbortController();
  onDispose(() => passkeyAbort.abort());
  passkeyForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(passkeyForm);
    stopSmsWait();
    await busy(passkeyButton, async () => {
      let credential;
      try {
        credential = await usePasskey(challenge.passkey, passkeyAbort.signal);
      } catch (error) {
        if (passkeyAbort.signal.aborted) return;
        const why = error && error.name === 'SecurityError' ? t('code.passkeyWrongAddress') : t('code.passkeyCancelled');
        showSummary(passkeyForm, t('code.passkeyNotUsed'), [why]);
        return;
      }
      try {
        signedIn(await api.verifyPasskey(challenge.challenge_id, credential));
      } catch (problem) {
        const extra = problem.status === 410 ? [h('p', {}, link('/', t('code.loginAgain')))] : [];
        // A refused assertion counts like a wrong code; "wrong code" would puzzle here.
        const shown = problem.code === 'invalid_code' ? { ...problem, title: t('code.passkeyRefused'), detail: null } : problem;
        showProblem(passkeyForm, shown, { extra });
      }
    });
    if (passkeyButton.isConnected) passkeyButton.focus();
  });
  const switchToPasskey = h('button', { type: 'button', class: 'button-secondary' }, t('code.switchToPasskey'));
  switchToPasskey.addEventListener('click', () => {
    mode = 'passkey';
    show();
    passkeyButton.focus();
  });
  const undelivered = h('div', { class: 'notice', role: 'status' });
  let told = false;
  async function checkDelivery() {
    if (mode !== 'sms' || told) return;
    try {
      const status = await api.smsStatus(challenge.challenge_id);
      if (!status || status.sms !== 'failed') return;
      told = true;
      const app = (status.alternatives || []).includes('totp');
      replace(
        undelivered,
        h('p', {}, app ? t('code.smsUndeliveredUseApp') : t('code.smsUndelivered')),
        app ? switchToTotp : '',
      );
    } catch {
      // A failed check changes nothing on screen; the next one may work.
    }
  }
  const poll = setInterval(checkDelivery, DELIVERY_POLL_MS);
  onDispose(() => clearInterval(poll));

  // Whether an SMS code was sent for this challenge (back to it from the passkey: no new one).
  let smsSent = mode === 'sms';
  const switchToSms = h('button', { type: 'button', class: 'button-secondary' }, t('code.switchToSms'));
  switchToSms.addEventListener('click', async () => {
    if (smsSent) {
      mode = 'sms';
      awaitSms();
      show();
      input(codeForm, 'code').focus();
      return;
    }
    try {
      const sent = await busy(switchToSms, () => api.resendCode(challenge.challenge_id));
      smsSent = true;
      mode = 'sms';
      resend.restart(sent && Number.isInteger(sent.resend_after) ? sent.resend_after : 30);
      awaitSms();
      show();
      input(codeForm, 'code').focus();
      announce(t('code.sentTo', { phone: challenge.phone_hint }));
    } catch (problem) {
      showProblem(codeForm, problem);
    }
  });

  // The last resort of an account with a passkey or an app: a recovery code (single use).
  const recovery = (challenge.methods || []).includes('recovery_code')
    ? recoveryCodeOption({
        send: (code) => api.verifyRecoveryCode(challenge.challenge_id, code),
        onAccepted: signedIn,
        problemExtra: (problem) => (problem.status === 410 ? [h('p', {}, link('/', t('code.loginAgain')))] : []),
      })
    : '';

  const alternatives = h('div', { class: 'alternatives' });

  function show() {
    clearErrors(codeForm);
    clearErrors(passkeyForm);
    codeForm.hidden = mode === 'passkey';
    passkeyForm.hidden = mode !== 'passkey' || !passkeyUsable;
    if (mode === 'passkey') {
      replace(undelivered);
      if (passkeyUsable) replace(instructions, t('code.passkeyInstructions'));
      else replace(instructions, obstacle === 'browser' ? t('code.passkeyNoBrowserSupport') : t('code.passkeyUnavailable'));
      replace(alternatives, hasTotp ? passkeyToTotp : null, switchToSms);
    } else if (mode === 'totp') {
      replace(undelivered);
      replace(instructions, t('code.totpInstructions'));
      replace(alternatives, passkeyUsable ? switchToPasskey : null, switchToSms);
    } else {
      replace(
        instructions,
        t('code.smsInstructions', { phone: challenge.phone_hint }),
        challenge.expires_in ? ' ' : '',
        challenge.expires_in ? t('code.validFor', { n: Math.round(challenge.expires_in / 60) }) : '',
      );
      replace(alternatives, resend.element, passkeyUsable ? switchToPasskey : null);
    }
  }
  show();
  context.focus = mode === 'passkey' ? (passkeyUsable ? passkeyButton : switchToSms) : input(codeForm, 'code');

  codeForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(codeForm);
    const code = codeValue(codeForm);
    if (code === null) {
      showSummary(codeForm, t('common.codeMissing'));
      input(codeForm, 'code').focus();
      return;
    }
    try {
      const verify = mode === 'totp' ? api.verifyTotp : api.verifySms;
      const tokens = await busy(submit, () => verify(challenge.challenge_id, code));
      signedIn(tokens);
    } catch (problem) {
      const extra = problem.status === 410 ? [h('p', {}, link('/', t('code.loginAgain')))] : [];
      showProblem(codeForm, problem, { extra });
      input(codeForm, 'code').select();
    }
  });

  return h(
    'section',
    { class: 'card narrow' },
    h('h1', {}, t('code.heading')),
    instructions,
    undelivered,
    codeForm,
    passkeyForm,
    alternatives,
    recovery,
    h('p', { class: 'hint' }, t('common.noCode', { phone: CUSTOMER_CENTRE })),
    h('p', {}, link('/', t('common.backToLogin'))),
  );
}
