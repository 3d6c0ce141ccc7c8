// "Bytt telefonnummer": the new number and the current password, then the code sent to the
// NEW number. The account keeps its old number until the code is confirmed.

import * as api from '../api.js';
import { resendControl } from '../countdown.js';
import { announce, busy, clearErrors, codeValue, field, fieldError, form, h, input, notice, replace, showProblem, showSummary, value } from '../dom.js';

/** Returns `{ toggle, panel }`: the "Bytt telefonnummer" button and the panel it opens. */
export function phoneChange({ onChanged, onDispose }) {
  const panel = h('div', { class: 'panel', id: 'phone-change', hidden: true, 'aria-labelledby': 'phone-heading', role: 'region' });
  const toggle = h(
    'button',
    { type: 'button', class: 'button-link', 'aria-expanded': 'false', 'aria-controls': 'phone-change' },
    'Bytt telefonnummer',
  );
  let resend = null;
  onDispose(() => resend && resend.dispose());

  function close() {
    if (resend) resend.dispose();
    resend = null;
    panel.hidden = true;
    toggle.setAttribute('aria-expanded', 'false');
    replace(panel);
  }

  function cancelButton() {
    return h(
      'button',
      {
        type: 'button',
        class: 'button-secondary',
        onclick: () => {
          close();
          toggle.focus();
        },
      },
      'Avbryt',
    );
  }

  function askForNumber() {
    const submit = h('button', { type: 'submit' }, 'Send kode');
    const numberForm = form(
      { class: 'stack' },
      field({ name: 'mobile', label: 'Nytt mobilnummer', hint: '8 siffer, for eksempel 912 34 567. Utenlandske numre skrives med + og landskode.', type: 'tel', autocomplete: 'tel', inputmode: 'tel', required: true }),
      field({ name: 'password', label: 'Passord', hint: 'Passordet ditt i kundeportalen, for å bekrefte at det er deg.', type: 'password', autocomplete: 'current-password', required: true }),
      h('div', { class: 'actions' }, submit, cancelButton()),
    );
    numberForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(numberForm);
      const newMobile = value(numberForm, 'mobile').trim();
      const password = value(numberForm, 'password');
      const wrong = [];
      if (!newMobile) wrong.push(fieldError(numberForm, 'mobile', 'Skriv inn det nye mobilnummeret.'));
      if (!password) wrong.push(fieldError(numberForm, 'password', 'Skriv inn passordet ditt.'));
      if (wrong.length) {
        showSummary(numberForm, 'Telefonnummeret ble ikke byttet.');
        wrong[0].focus();
        return;
      }
      try {
        const started = await busy(submit, () => api.startPhoneChange(newMobile, password));
        askForCode(started);
      } catch (problem) {
        showProblem(numberForm, problem, { fields: { new_mobile: 'mobile' } });
        if (problem.code === 'wrong_password') {
          const element = fieldError(numberForm, 'password', problem.title);
          element.value = '';
          element.focus();
        }
      }
    });
    replace(panel, h('h2', { id: 'phone-heading', class: 'h3' }, 'Bytt telefonnummer'), numberForm);
    input(numberForm, 'mobile').focus();
  }

  function askForCode(started) {
    const submit = h('button', { type: 'submit' }, 'Bekreft');
    const codeForm = form(
      { class: 'stack' },
      field({ name: 'code', label: 'Kode', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '7', required: true }),
      h('div', { class: 'actions' }, submit, cancelButton()),
    );
    resend = resendControl({
      after: started.resend_after,
      resend: () => api.resendCode(started.challenge_id),
      onSent: () => {
        clearErrors(codeForm);
        announce(`En ny kode er sendt til ${started.phone_hint}.`);
      },
      onProblem: (problem) => showProblem(codeForm, problem),
    });
    codeForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(codeForm);
      const code = codeValue(codeForm);
      if (code === null) {
        input(codeForm, 'code').focus();
        showSummary(codeForm, 'Skriv inn koden på 6 siffer.');
        return;
      }
      try {
        await busy(submit, () => api.confirmPhoneChange(started.challenge_id, code));
        close();
        toggle.focus();
        await onChanged();
      } catch (problem) {
        showProblem(codeForm, problem);
        if (problem.code === 'invalid_code') fieldError(codeForm, 'code', problem.title).focus();
      }
    });
    replace(
      panel,
      h('h2', { id: 'phone-heading', class: 'h3' }, 'Bytt telefonnummer'),
      notice(
        'info',
        h('p', {}, `Fyll inn koden vi har sendt på SMS til det nye nummeret (${started.phone_hint}).`),
        h('p', {}, 'Nummeret byttes først når koden er bekreftet.'),
      ),
      codeForm,
      resend.element,
    );
    input(codeForm, 'code').focus();
  }

  toggle.addEventListener('click', () => {
    if (!panel.hidden) {
      close();
      return;
    }
    panel.hidden = false;
    toggle.setAttribute('aria-expanded', 'true');
    askForNumber();
  });

  return { toggle, panel };
}
