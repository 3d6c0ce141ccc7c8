// "Bytte passord": old password, new password, repeat new password. Used on the account page
// and for the password change required after the first login.

import * as api from '../api.js';
import { busy, clearErrors, field, fieldError, form, h, showProblem, showSummary, value } from '../dom.js';

export const PASSWORD_HINT = 'Minst 12 tegn. Bruk gjerne flere ord. Vanlige passord og brukernavnet ditt godtas ikke.';

/** The form; `onChanged()` runs after the password was changed. */
export function passwordForm({ submitLabel = 'Bytt passord', oldLabel = 'Gammelt passord', onChanged }) {
  const submit = h('button', { type: 'submit' }, submitLabel);
  const passwordForm = form(
    { class: 'stack' },
    field({ name: 'old', label: oldLabel, type: 'password', autocomplete: 'current-password', required: true }),
    field({ name: 'new', label: 'Nytt passord', hint: PASSWORD_HINT, type: 'password', autocomplete: 'new-password', minlength: '12', maxlength: '128', required: true }),
    field({ name: 'repeat', label: 'Gjenta nytt passord', type: 'password', autocomplete: 'new-password', required: true }),
    h('div', { class: 'actions' }, submit),
  );

  passwordForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(passwordForm);
    const oldPassword = value(passwordForm, 'old');
    const newPassword = value(passwordForm, 'new');
    const repeat = value(passwordForm, 'repeat');
    const wrong = [];
    if (!oldPassword) wrong.push(fieldError(passwordForm, 'old', 'Skriv inn passordet du har nå.'));
    if (!newPassword) wrong.push(fieldError(passwordForm, 'new', 'Skriv inn et nytt passord.'));
    else if (newPassword !== repeat) wrong.push(fieldError(passwordForm, 'repeat', 'Passordene er ikke like.'));
    if (wrong.length) {
      showSummary(passwordForm, 'Passordet ble ikke endret.');
      wrong[0].focus();
      return;
    }
    try {
      await busy(submit, () => api.changePassword(oldPassword, newPassword));
      passwordForm.reset();
      onChanged();
    } catch (problem) {
      showProblem(passwordForm, problem);
      if (problem.code === 'wrong_password') {
        fieldError(passwordForm, 'old', problem.title).focus();
      } else if (problem.code === 'weak_password') {
        fieldError(passwordForm, 'new', problem.detail || problem.title).focus();
      }
    }
  });
  return passwordForm;
}

