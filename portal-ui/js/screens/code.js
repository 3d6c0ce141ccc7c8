// "Bekreft kode": the second factor of the login. The code comes by SMS, or, for users with an
// authenticator app, from the app (with "send me an SMS instead").
//
// While an SMS code is awaited the screen (1) asks the browser for it with the WebOTP API where
// there is one: the SMS ends with "@<portal host> #<code>", so the browser offers it only on
// this origin; and (2) asks the API now and then whether the carrier reported the SMS
// undelivered, and then offers the authenticator app when the account has one.

import * as api from '../api.js';
import { resendControl } from '../countdown.js';
import { announce, busy, clearErrors, codeValue, field, form, h, input, link, replace, showProblem, showSummary } from '../dom.js';
import { t } from '../i18n.js';
import { recoveryCodeField, recoveryCodeValue } from '../stepup.js';
import { CUSTOMER_CENTRE } from '../texts.js';

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
  let mode = (challenge.methods || []).includes('totp') ? 'totp' : 'sms';

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
  onDispose(awaitSmsCode(codeForm));

  const switchToTotp = h('button', { type: 'button', class: 'button-secondary' }, t('code.switchToTotp'));
  switchToTotp.addEventListener('click', () => {
    mode = 'totp';
    show();
    input(codeForm, 'code').focus();
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

  const switchToSms = h('button', { type: 'button', class: 'button-secondary' }, t('code.switchToSms'));
  switchToSms.addEventListener('click', async () => {
    try {
      const sent = await busy(switchToSms, () => api.resendCode(challenge.challenge_id));
      mode = 'sms';
      resend.restart(sent && Number.isInteger(sent.resend_after) ? sent.resend_after : 30);
      show();
      input(codeForm, 'code').focus();
      announce(t('code.sentTo', { phone: challenge.phone_hint }));
    } catch (problem) {
      showProblem(codeForm, problem);
    }
  });

  // The last resort of an account with a passkey or an app: a recovery code (single use).
  const recoverySubmit = h('button', { type: 'submit', class: 'button-secondary' }, t('recovery.use'));
  const recoveryForm = form({ class: 'stack', hidden: true }, recoveryCodeField(), h('div', { class: 'actions' }, recoverySubmit));
  const useRecoveryCode = h('button', { type: 'button', class: 'button-link' }, t('recovery.lostFactor'));
  useRecoveryCode.addEventListener('click', () => {
    recoveryForm.hidden = false;
    useRecoveryCode.hidden = true;
    input(recoveryForm, 'recovery').focus();
  });
  recoveryForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(recoveryForm);
    const code = recoveryCodeValue(recoveryForm);
    if (code === null) {
      showSummary(recoveryForm, t('recovery.codeFormat'));
      input(recoveryForm, 'recovery').focus();
      return;
    }
    try {
      const tokens = await busy(recoverySubmit, () => api.verifyRecoveryCode(challenge.challenge_id, code));
      signedIn(tokens);
    } catch (problem) {
      const extra = problem.status === 410 ? [h('p', {}, link('/', t('code.loginAgain')))] : [];
      showProblem(recoveryForm, problem, { extra });
      input(recoveryForm, 'recovery').select();
    }
  });
  const recovery = (challenge.methods || []).includes('recovery_code') ? h('div', { class: 'recovery-login' }, useRecoveryCode, recoveryForm) : '';

  const alternatives = h('div', { class: 'alternatives' });

  function show() {
    clearErrors(codeForm);
    if (mode === 'totp') {
      replace(undelivered);
      replace(instructions, t('code.totpInstructions'));
      replace(alternatives, switchToSms);
    } else {
      replace(
        instructions,
        t('code.smsInstructions', { phone: challenge.phone_hint }),
        challenge.expires_in ? ' ' : '',
        challenge.expires_in ? t('code.validFor', { n: Math.round(challenge.expires_in / 60) }) : '',
      );
      replace(alternatives, resend.element);
    }
  }
  show();
  context.focus = input(codeForm, 'code');

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
    alternatives,
    recovery,
    h('p', { class: 'hint' }, t('common.noCode', { phone: CUSTOMER_CENTRE })),
    h('p', {}, link('/', t('common.backToLogin'))),
  );
}
