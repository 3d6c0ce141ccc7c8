// "Bekreft kode": the second factor of the login. The code comes by SMS, or, for users with an
// authenticator app, from the app (with "send me an SMS instead").

import * as api from '../api.js';
import { resendControl } from '../countdown.js';
import { announce, busy, clearErrors, codeValue, field, form, h, input, link, replace, showProblem, showSummary } from '../dom.js';
import { CUSTOMER_CENTRE } from '../texts.js';

function expired() {
  return h(
    'section',
    { class: 'card narrow' },
    h('h1', {}, 'Bekreft kode'),
    h('p', {}, 'Innloggingen er ikke lenger aktiv. Start innloggingen på nytt.'),
    h('p', {}, link('/', 'Gå til innlogging')),
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
    label: 'Kode',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    maxlength: '7',
    pattern: '[0-9 ]*',
    required: true,
  });
  const submit = h('button', { type: 'submit' }, 'Bekreft');
  const codeForm = form({ class: 'stack', 'aria-describedby': 'code-instructions' }, codeField, h('div', { class: 'actions' }, submit));

  const resend = resendControl({
    after: mode === 'sms' ? challenge.resend_after : 0,
    resend: () => api.resendCode(challenge.challenge_id),
    onSent: () => {
      clearErrors(codeForm);
      announce('En ny kode er sendt på SMS.');
    },
    onProblem: (problem) => showProblem(codeForm, problem),
  });
  onDispose(resend.dispose);

  const switchToSms = h('button', { type: 'button', class: 'button-secondary' }, 'Send meg en kode på SMS i stedet');
  switchToSms.addEventListener('click', async () => {
    try {
      const sent = await busy(switchToSms, () => api.resendCode(challenge.challenge_id));
      mode = 'sms';
      resend.restart(sent && Number.isInteger(sent.resend_after) ? sent.resend_after : 30);
      show();
      input(codeForm, 'code').focus();
      announce(`Koden er sendt på SMS til ${challenge.phone_hint}.`);
    } catch (problem) {
      showProblem(codeForm, problem);
    }
  });

  const alternatives = h('div', { class: 'alternatives' });

  function show() {
    clearErrors(codeForm);
    if (mode === 'totp') {
      replace(instructions, 'Fyll inn koden som vises i autentiseringsappen din.');
      replace(alternatives, switchToSms);
    } else {
      replace(
        instructions,
        `Fyll inn koden som ble tilsendt på SMS til ${challenge.phone_hint}. `,
        challenge.expires_in ? `Koden gjelder i ${Math.round(challenge.expires_in / 60)} minutter.` : '',
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
      showSummary(codeForm, 'Skriv inn koden på 6 siffer.');
      input(codeForm, 'code').focus();
      return;
    }
    try {
      const verify = mode === 'totp' ? api.verifyTotp : api.verifySms;
      const tokens = await busy(submit, () => verify(challenge.challenge_id, code));
      signedIn(tokens);
    } catch (problem) {
      const extra = problem.status === 410 ? [h('p', {}, link('/', 'Logg inn på nytt'))] : [];
      showProblem(codeForm, problem, { extra });
      input(codeForm, 'code').select();
    }
  });

  return h(
    'section',
    { class: 'card narrow' },
    h('h1', {}, 'Bekreft kode'),
    instructions,
    codeForm,
    alternatives,
    h('p', { class: 'hint' }, `Om du ikke mottar kode – kontakt kundesenteret på ${CUSTOMER_CENTRE}.`),
    h('p', {}, link('/', 'Tilbake til innlogging')),
  );
}
