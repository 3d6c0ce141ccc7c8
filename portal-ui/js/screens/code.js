// "Bekreft kode": the second factor of the login. The code comes by SMS, or, for users with an
// authenticator app, from the app (with "send me an SMS instead").

import * as api from '../api.js';
import { resendControl } from '../countdown.js';
import { announce, busy, clearErrors, codeValue, field, form, h, input, link, replace, showProblem, showSummary } from '../dom.js';
import { t } from '../i18n.js';
import { CUSTOMER_CENTRE } from '../texts.js';

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
    },
    onProblem: (problem) => showProblem(codeForm, problem),
  });
  onDispose(resend.dispose);

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

  const alternatives = h('div', { class: 'alternatives' });

  function show() {
    clearErrors(codeForm);
    if (mode === 'totp') {
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
    codeForm,
    alternatives,
    h('p', { class: 'hint' }, t('common.noCode', { phone: CUSTOMER_CENTRE })),
    h('p', {}, link('/', t('common.backToLogin'))),
  );
}
