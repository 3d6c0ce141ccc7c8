// "Glemt passordet?": the username, then the code from the SMS and a new password.

import * as api from '../api.js';
import { resendControl } from '../countdown.js';
import { announce, busy, clearErrors, codeValue, field, fieldError, form, h, input, link, notice, replace, showProblem, showSummary, value } from '../dom.js';
import { CUSTOMER_CENTRE } from '../texts.js';
import { PASSWORD_HINT } from './password.js';

// The forgot route answers only `challenge_id`; codes may be asked for again after 30 s.
const RESEND_AFTER = 30;

export function render({ onDispose }) {
  const body = h('div', {});

  function askForUsername() {
    const submit = h('button', { type: 'submit' }, 'Send kode');
    const usernameForm = form(
      { class: 'stack' },
      field({ name: 'username', label: 'Brukernavn', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true }),
      h('div', { class: 'actions' }, submit, link('/', 'Tilbake til innlogging')),
    );
    usernameForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(usernameForm);
      const username = value(usernameForm, 'username').trim();
      if (!username) {
        fieldError(usernameForm, 'username', 'Skriv inn brukernavnet ditt.').focus();
        showSummary(usernameForm, 'Skriv inn brukernavnet ditt.');
        return;
      }
      try {
        const started = await busy(submit, () => api.forgotPassword(username));
        askForCode(started.challenge_id);
      } catch (problem) {
        showProblem(usernameForm, problem);
      }
    });
    replace(
      body,
      h('p', {}, 'Skriv inn brukernavnet ditt. Vi sender en kode på SMS til mobilnummeret som er registrert på kontoen din.'),
      usernameForm,
    );
  }

  function askForCode(challengeId) {
    const submit = h('button', { type: 'submit' }, 'Lagre nytt passord');
    const resetForm = form(
      { class: 'stack' },
      field({ name: 'code', label: 'Kode fra SMS', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '7', required: true }),
      field({ name: 'new', label: 'Nytt passord', hint: PASSWORD_HINT, type: 'password', autocomplete: 'new-password', required: true }),
      field({ name: 'repeat', label: 'Gjenta nytt passord', type: 'password', autocomplete: 'new-password', required: true }),
      h('div', { class: 'actions' }, submit),
    );
    const resend = resendControl({
      after: RESEND_AFTER,
      resend: () => api.resendCode(challengeId),
      onSent: () => {
        clearErrors(resetForm);
        announce('En ny kode er sendt på SMS.');
      },
      onProblem: (problem) => showProblem(resetForm, problem),
    });
    onDispose(resend.dispose);

    resetForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(resetForm);
      const code = codeValue(resetForm);
      const newPassword = value(resetForm, 'new');
      const wrong = [];
      if (code === null) wrong.push(input(resetForm, 'code'));
      if (!newPassword) wrong.push(fieldError(resetForm, 'new', 'Skriv inn et nytt passord.'));
      else if (newPassword !== value(resetForm, 'repeat')) wrong.push(fieldError(resetForm, 'repeat', 'Passordene er ikke like.'));
      if (wrong.length) {
        showSummary(resetForm, 'Passordet ble ikke endret.');
        wrong[0].focus();
        return;
      }
      try {
        await busy(submit, () => api.resetPassword(challengeId, code, newPassword));
        done();
      } catch (problem) {
        const extra = problem.status === 410 ? [h('p', {}, link('/glemt-passord', 'Be om en ny kode'))] : [];
        showProblem(resetForm, problem, { extra });
        if (problem.code === 'weak_password') fieldError(resetForm, 'new', problem.detail || problem.title).focus();
        if (problem.code === 'invalid_code') fieldError(resetForm, 'code', problem.title).focus();
      }
    });

    replace(
      body,
      notice(
        'info',
        h('p', {}, 'Hvis brukernavnet finnes, har vi sendt en kode på SMS til mobilnummeret som er registrert på kontoen.'),
      ),
      resetForm,
      resend.element,
      h('p', { class: 'hint' }, `Om du ikke mottar kode – kontakt kundesenteret på ${CUSTOMER_CENTRE}.`),
      h('p', {}, link('/', 'Tilbake til innlogging')),
    );
    input(resetForm, 'code').focus();
  }

  function done() {
    replace(
      body,
      notice(
        'success',
        h('p', {}, 'Passordet er endret. Du kan nå logge inn med det nye passordet.'),
        h('p', {}, 'Av sikkerhetshensyn er alle innlogginger på kontoen avsluttet.'),
      ),
      h('p', {}, link('/', 'Gå til innlogging', { class: 'button' })),
    );
    body.querySelector('a').focus();
  }

  askForUsername();
  return h('section', { class: 'card narrow' }, h('h1', {}, 'Glemt passordet?'), body);
}
