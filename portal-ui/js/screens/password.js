// "Bytte passord": old password, new password, repeat new password. Used on the account page
// and for the password change required after the first login.

import * as api from '../api.js';
import { busy, clearErrors, field, fieldError, form, h, showProblem, showSummary, value } from '../dom.js';
import { t } from '../i18n.js';

/** The form; `onChanged()` runs after the password was changed. */
export function passwordForm({ submitLabel, oldLabel, onChanged }) {
  const submit = h('button', { type: 'submit' }, submitLabel || t('password.submit'));
  const passwordForm = form(
    { class: 'stack' },
    field({ name: 'old', label: oldLabel || t('password.old'), type: 'password', autocomplete: 'current-password', required: true }),
    field({ name: 'new', label: t('password.new'), hint: t('password.hint'), type: 'password', autocomplete: 'new-password', minlength: '12', maxlength: '128', required: true }),
    field({ name: 'repeat', label: t('password.repeat'), type: 'password', autocomplete: 'new-password', required: true }),
    h('div', { class: 'actions' }, submit),
  );

  passwordForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(passwordForm);
    const oldPassword = value(passwordForm, 'old');
    const newPassword = value(passwordForm, 'new');
    const repeat = value(passwordForm, 'repeat');
    const wrong = [];
    if (!oldPassword) wrong.push(fieldError(passwordForm, 'old', t('password.oldMissing')));
    if (!newPassword) wrong.push(fieldError(passwordForm, 'new', t('password.newMissing')));
    else if (newPassword !== repeat) wrong.push(fieldError(passwordForm, 'repeat', t('password.mismatch')));
    if (wrong.length) {
      showSummary(passwordForm, t('password.notChanged'));
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

