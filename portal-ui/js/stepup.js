// "Bekreft at det er deg": the fresh second factor the API asks for (`step_up_required`)
// before an action that changes how the account or the home-office card is protected, when
// the account has a passkey or an authenticator app. A modal dialog offers what the account
// has; once a factor is accepted, the action is sent again (see `api.onStepUpRequired`).

import * as api from './api.js';
import { announce, busy, clearErrors, codeValue, field, fieldError, form, h, input, replace, showProblem, showSummary, value } from './dom.js';
import { t } from './i18n.js';
import { passkeyObstacle, usePasskey } from './webauthn.js';

/** A recovery code as typed: spaces and dashes forgiven, as the API forgives them. */
export function recoveryCodeValue(formElement) {
  const code = value(formElement, 'recovery').replace(/[\s-]+/g, '');
  if (/^[0-9A-Za-z]{8,16}$/.test(code)) return code;
  fieldError(formElement, 'recovery', t('recovery.codeFormat'));
  return null;
}

/** The field a recovery code is typed into (named `recovery`). */
export function recoveryCodeField() {
  return field({
    name: 'recovery',
    label: t('recovery.codeLabel'),
    hint: t('recovery.codeHint'),
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: 'false',
    maxlength: '24',
    required: true,
  });
}

/**
 * "Lost your passkey and your app? Use a recovery code": a link that opens a small form.
 * `send(code)` answers with the code; `onAccepted(answer)` runs when the API took it, and a
 * refusal is shown in the form (with what it says about attempts left).
 */
export function recoveryCodeOption({ send, onAccepted, problemExtra = () => [] }) {
  const submit = h('button', { type: 'submit', class: 'button-secondary' }, t('recovery.use'));
  const recoveryForm = form({ class: 'stack', hidden: true }, recoveryCodeField(), h('div', { class: 'actions' }, submit));
  const reveal = h('button', { type: 'button', class: 'button-link' }, t('recovery.lostFactor'));
  reveal.addEventListener('click', () => {
    recoveryForm.hidden = false;
    reveal.hidden = true;
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
      onAccepted(await busy(submit, () => send(code)));
    } catch (problem) {
      showProblem(recoveryForm, problem, { extra: problemExtra(problem) });
      input(recoveryForm, 'recovery').select();
    }
  });
  return h('div', { class: 'recovery-option' }, reveal, recoveryForm);
}

/**
 * Asks for a second factor among `methods` ("passkey", "totp", "recovery_code") and proves it
 * with `prove(proof)`. Resolves to true when it was accepted, false when the user cancelled.
 */
export function askForSecondFactor(methods) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'step-up', 'aria-labelledby': 'step-up-heading' });
    const finish = (accepted) => {
      dialog.close();
      dialog.remove();
      if (accepted) announce(t('stepUp.done'));
      resolve(accepted);
    };
    // Escape closes the dialog: the same as "Avbryt".
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      finish(false);
    });

    const parts = [];
    const status = h('div', { class: 'messages' });

    if (methods.includes('passkey') && passkeyObstacle() === null) {
      const passkeyButton = h('button', { type: 'button' }, t('stepUp.usePasskey'));
      const passkeyForm = form({ class: 'stack' }, h('div', { class: 'actions' }, passkeyButton));
      passkeyButton.addEventListener('click', async () => {
        clearErrors(passkeyForm);
        try {
          await busy(passkeyButton, async () => {
            const options = await api.stepUpOptions();
            const credential = await usePasskey(options.passkey);
            await api.stepUp({ challenge_id: options.challenge_id, credential });
          });
          finish(true);
        } catch (problem) {
          if (problem instanceof api.ApiProblem) showProblem(passkeyForm, problem);
          else showSummary(passkeyForm, t('stepUp.passkeyFailed'));
        }
      });
      parts.push(passkeyForm);
    }

    if (methods.includes('totp')) {
      const submit = h('button', { type: 'submit' }, t('common.confirm'));
      const totpForm = form(
        { class: 'stack' },
        field({
          name: 'code',
          label: t('stepUp.totpLabel'),
          inputmode: 'numeric',
          autocomplete: 'one-time-code',
          maxlength: '7',
          required: true,
        }),
        h('div', { class: 'actions' }, submit),
      );
      totpForm.addEventListener('submit', async (event) => {
        event.preventDefault();
        clearErrors(totpForm);
        const code = codeValue(totpForm);
        if (code === null) {
          showSummary(totpForm, t('common.codeMissing'));
          input(totpForm, 'code').focus();
          return;
        }
        try {
          await busy(submit, () => api.stepUp({ totp_code: code }));
          finish(true);
        } catch (problem) {
          showProblem(totpForm, problem);
          input(totpForm, 'code').select();
        }
      });
      parts.push(totpForm);
    }

    if (methods.includes('recovery_code')) {
      parts.push(
        recoveryCodeOption({
          send: (code) => api.stepUp({ recovery_code: code }),
          onAccepted: () => finish(true),
        }),
      );
    }

    if (!parts.length) replace(status, h('p', {}, t('stepUp.noMethod')));
    const cancel = h('button', { type: 'button', class: 'button-secondary' }, t('common.cancel'));
    cancel.addEventListener('click', () => finish(false));
    replace(
      dialog,
      h('h2', { id: 'step-up-heading' }, t('stepUp.heading')),
      h('p', {}, t('stepUp.intro')),
      status,
      ...parts,
      h('div', { class: 'actions' }, cancel),
    );
    document.body.append(dialog);
    dialog.showModal();
    const first = dialog.querySelector('form:not([hidden]) button, form:not([hidden]) input');
    if (first) first.focus();
  });
}
