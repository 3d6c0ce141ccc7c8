// "Passnøkler" on /konto: the account's passkeys (name, added, last used), "Legg til
// passnøkkel" (a name of the user's choice and the current password, then the browser's own
// passkey dialog), and "Fjern" per passkey (with the password). Where this browser has no
// WebAuthn, or the portal is on an IP address (no relying party: the API does not offer
// passkeys there), the section says so and still lists and removes passkeys. Hidden when this
// deployment has no passkey routes.

import * as api from '../api.js';
import { announce, busy, clearErrors, field, fieldError, form, h, input, notice, replace, showProblem, showSummary, value } from '../dom.js';
import { t } from '../i18n.js';
import { dateTime } from '../texts.js';
import { createPasskey, passkeyObstacle } from '../webauthn.js';

const NAME_MAX = 64;

/** What the browser's passkey dialog ended with, as a text for the user. */
function ceremonyProblem(error) {
  if (error && error.name === 'InvalidStateError') return t('passkeys.alreadyOnDevice');
  if (error && error.name === 'SecurityError') return t('passkeys.wrongAddress');
  return t('passkeys.cancelled');
}

export function passkeysSection() {
  const heading = h('h2', { id: 'passkeys-heading' }, t('passkeys.heading'));
  const messages = h('div', { class: 'messages' });
  const list = h('ul', { class: 'passkeys', 'aria-labelledby': 'passkeys-heading' });
  const empty = h('p', { hidden: true }, t('passkeys.none'));
  const body = h('div', {});
  const element = h(
    'section',
    { class: 'card', id: 'passnokler', 'aria-labelledby': 'passkeys-heading', hidden: true },
    heading,
    h('p', { class: 'hint' }, t('passkeys.intro')),
    messages,
    empty,
    list,
    body,
  );
  let obstacle = passkeyObstacle();

  /** After the list changed: focus on the section's heading, so the message below it is read next. */
  function focusHeading() {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }

  function cancelButton() {
    return h('button', { type: 'button', class: 'button-secondary', onclick: () => showActions() }, t('common.cancel'));
  }

  function passwordMissing(formElement) {
    fieldError(formElement, 'password', t('common.passwordMissing')).focus();
    showSummary(formElement, t('common.passwordMissing'));
  }

  function wrongPassword(formElement, problem) {
    if (problem.code !== 'wrong_password') return;
    const passwordInput = fieldError(formElement, 'password', problem.title);
    passwordInput.value = '';
    passwordInput.focus();
  }

  /** Under the list: "Legg til passnøkkel", or why passkeys cannot be added here. */
  function showActions() {
    if (obstacle) {
      replace(body, notice('info', h('p', {}, obstacle === 'browser' ? t('passkeys.noBrowserSupport') : t('passkeys.unavailable'))));
      return;
    }
    const add = h('button', { type: 'button', class: 'button-secondary' }, t('passkeys.add'));
    add.addEventListener('click', () => {
      replace(messages);
      showAddForm();
    });
    replace(body, add);
  }

  function showAddForm() {
    const submit = h('button', { type: 'submit' }, t('passkeys.create'));
    const addForm = form(
      { class: 'stack' },
      field({ name: 'name', label: t('passkeys.nameLabel'), hint: t('passkeys.nameHint'), autocomplete: 'off', maxlength: String(NAME_MAX), required: true }),
      field({ name: 'password', label: t('common.password'), type: 'password', autocomplete: 'current-password', required: true }),
      h('div', { class: 'actions' }, submit, cancelButton()),
    );
    addForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(addForm);
      const name = value(addForm, 'name').trim();
      const password = value(addForm, 'password');
      if (!name) {
        fieldError(addForm, 'name', t('passkeys.nameMissing')).focus();
        showSummary(addForm, t('passkeys.nameMissing'));
        return;
      }
      if (!password) {
        passwordMissing(addForm);
        return;
      }
      // Where focus goes once the button is enabled again (a disabled button takes none).
      let focusAfter = null;
      await busy(submit, async () => {
        let enrolment;
        try {
          enrolment = await api.startPasskey(password);
        } catch (problem) {
          if (problem.status === 401) return;
          if (problem.code === 'passkeys_unavailable') {
            // This deployment's PORTAL_URL is an IP address: the form gives way to why.
            obstacle = 'address';
            showActions();
            announce(t('passkeys.unavailable'));
            focusAfter = heading;
            return;
          }
          showProblem(addForm, problem);
          wrongPassword(addForm, problem);
          if (problem.code !== 'wrong_password' && !problem.errors.length) focusAfter = submit;
          return;
        }
        let credential;
        try {
          credential = await createPasskey(enrolment.options);
        } catch (error) {
          showSummary(addForm, t('passkeys.notCreated'), [ceremonyProblem(error)]);
          focusAfter = submit;
          return;
        }
        try {
          const added = await api.confirmPasskey(enrolment.registration_id, name, credential);
          const text = t('passkeys.added', { name: added && added.name ? added.name : name });
          // The list first: when the notice names the passkey, the list shows it.
          await load();
          replace(messages, notice('success', h('p', {}, text)));
          announce(text);
          focusHeading();
        } catch (problem) {
          if (problem.status === 401) return;
          showProblem(addForm, problem, { fields: { name: 'name' } });
          if (!problem.errors.length) focusAfter = submit;
        }
      });
      if (focusAfter === heading) focusHeading();
      else if (focusAfter && focusAfter.isConnected) focusAfter.focus();
    });
    replace(body, h('p', {}, t('passkeys.addIntro')), addForm);
    input(addForm, 'name').focus();
  }

  function showRemoveForm(passkey, row, removeButton) {
    const submit = h('button', { type: 'submit', class: 'button-danger' }, t('passkeys.removeConfirm'));
    const removeForm = form(
      { class: 'stack' },
      field({ name: 'password', label: t('common.password'), type: 'password', autocomplete: 'current-password', required: true }),
      h('div', { class: 'actions' }, submit, h('button', { type: 'button', class: 'button-secondary', onclick: () => cancel() }, t('common.cancel'))),
    );
    removeForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(removeForm);
      const password = value(removeForm, 'password');
      if (!password) {
        passwordMissing(removeForm);
        return;
      }
      try {
        await busy(submit, () => api.removePasskey(passkey.id, password));
        const text = t('passkeys.removed', { name: passkey.name });
        await load();
        replace(messages, notice('success', h('p', {}, text)));
        announce(text);
        focusHeading();
      } catch (problem) {
        if (problem.status === 401) return;
        showProblem(removeForm, problem);
        wrongPassword(removeForm, problem);
        if (problem.code !== 'wrong_password' && !problem.errors.length) submit.focus();
      }
    });
    const panel = h('div', { class: 'panel', role: 'group', 'aria-label': t('passkeys.removeLabel', { name: passkey.name }) }, h('p', {}, t('passkeys.removeIntro', { name: passkey.name })), removeForm);
    function cancel() {
      panel.remove();
      removeButton.focus();
    }
    row.append(panel);
    input(removeForm, 'password').focus();
  }

  function row(passkey) {
    const remove = h('button', { type: 'button', class: 'button-secondary', 'aria-label': t('passkeys.removeLabel', { name: passkey.name }) }, t('passkeys.remove'));
    const item = h(
      'li',
      { class: 'passkey' },
      h('p', { class: 'status-title', translate: 'no' }, passkey.name),
      h('p', { class: 'hint' }, t('passkeys.createdAt', { date: dateTime(passkey.created_at) })),
      h('p', { class: 'hint' }, passkey.last_used_at ? t('passkeys.lastUsed', { date: dateTime(passkey.last_used_at) }) : t('passkeys.neverUsed')),
      remove,
    );
    remove.addEventListener('click', () => {
      for (const open of list.querySelectorAll('.panel')) open.remove();
      replace(messages);
      showRemoveForm(passkey, item, remove);
    });
    return item;
  }

  async function load() {
    try {
      const { passkeys = [] } = (await api.passkeys()) || {};
      element.hidden = false;
      replace(list, passkeys.map(row));
      list.hidden = passkeys.length === 0;
      empty.hidden = passkeys.length > 0;
      showActions();
    } catch (problem) {
      // No passkey routes in this deployment: no section.
      if (problem.status === 404 || problem.status === 405) {
        element.hidden = true;
        return;
      }
      if (problem.status === 401) return;
      element.hidden = false;
      replace(body, notice('error', h('p', {}, problem.title)));
    }
  }
  load();
  return element;
}
