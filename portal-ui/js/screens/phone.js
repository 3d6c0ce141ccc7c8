// "Bytt telefonnummer": the new number and the current password, then the code sent to the
// NEW number. The account keeps its old number until the code is confirmed.

import * as api from '../api.js';
import { resendControl } from '../countdown.js';
import { t } from '../i18n.js';
import { announce, busy, clearErrors, codeValue, field, fieldError, form, h, input, notice, replace, showProblem, showSummary, value } from '../dom.js';

/** Returns `{ toggle, panel }`: the "Bytt telefonnummer" button and the panel it opens. */
export function phoneChange({ onChanged, onDispose }) {
  const panel = h('div', { class: 'panel', id: 'phone-change', hidden: true, 'aria-labelledby': 'phone-heading', role: 'region' });
  const toggle = h(
    'button',
    { type: 'button', class: 'button-link', 'aria-expanded': 'false', 'aria-controls': 'phone-change' },
    t('phone.toggle'),
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
      t('common.cancel'),
    );
  }

  function askForNumber() {
    const submit = h('button', { type: 'submit' }, t('common.sendCode'));
    const numberForm = form(
      { class: 'stack' },
      field({ name: 'mobile', label: t('phone.new'), hint: t('phone.newHint'), type: 'tel', autocomplete: 'tel', inputmode: 'tel', required: true }),
      field({ name: 'password', label: t('common.password'), hint: t('phone.passwordHint'), type: 'password', autocomplete: 'current-password', required: true }),
      h('div', { class: 'actions' }, submit, cancelButton()),
    );
    numberForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(numberForm);
      const newMobile = value(numberForm, 'mobile').trim();
      const password = value(numberForm, 'password');
      const wrong = [];
      if (!newMobile) wrong.push(fieldError(numberForm, 'mobile', t('phone.newMissing')));
      if (!password) wrong.push(fieldError(numberForm, 'password', t('common.passwordMissing')));
      if (wrong.length) {
        showSummary(numberForm, t('phone.notChanged'));
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
    replace(panel, h('h2', { id: 'phone-heading', class: 'h3' }, t('phone.toggle')), numberForm);
    input(numberForm, 'mobile').focus();
  }

  function askForCode(started) {
    const submit = h('button', { type: 'submit' }, t('common.confirm'));
    const codeForm = form(
      { class: 'stack' },
      field({ name: 'code', label: t('common.code'), inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '7', required: true }),
      h('div', { class: 'actions' }, submit, cancelButton()),
    );
    resend = resendControl({
      after: started.resend_after,
      resend: () => api.resendCode(started.challenge_id),
      onSent: () => {
        clearErrors(codeForm);
        announce(t('phone.newSentTo', { phone: started.phone_hint }));
      },
      onProblem: (problem) => showProblem(codeForm, problem),
    });
    codeForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(codeForm);
      const code = codeValue(codeForm);
      if (code === null) {
        input(codeForm, 'code').focus();
        showSummary(codeForm, t('common.codeMissing'));
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
      h('h2', { id: 'phone-heading', class: 'h3' }, t('phone.toggle')),
      notice(
        'info',
        h('p', {}, t('phone.enterCode', { phone: started.phone_hint })),
        h('p', {}, t('phone.onlyOnConfirm')),
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
