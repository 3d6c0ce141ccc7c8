// "Autentiseringsapp": log in with a code from an authenticator app instead of an SMS code.
// Set up with the current password, a QR code (or the key typed in), and a first code from the
// app. Hidden when this deployment has no authenticator-app routes.

import * as api from '../api.js';
import { announce, busy, clearErrors, codeValue, field, fieldError, form, h, input, notice, replace, showProblem, showSummary, value } from '../dom.js';
import { t } from '../i18n.js';
import { dateTime } from '../texts.js';

/** `ABCDEFGHIJ…` → `ABCD EFGH IJ…`, easier to type. */
function grouped(secret) {
  return (secret.match(/.{1,4}/g) || []).join(' ');
}

/** A password re-auth form for an action of the account page. */
export function passwordStep({ label, submitLabel, onPassword, cancel }) {
  const submit = h('button', { type: 'submit' }, submitLabel);
  const passwordForm = form(
    { class: 'stack' },
    field({ name: 'password', label, type: 'password', autocomplete: 'current-password', required: true }),
    h('div', { class: 'actions' }, submit, cancel),
  );
  passwordForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(passwordForm);
    const password = value(passwordForm, 'password');
    if (!password) {
      fieldError(passwordForm, 'password', t('common.passwordMissing')).focus();
      showSummary(passwordForm, t('common.passwordMissing'));
      return;
    }
    try {
      await busy(submit, () => onPassword(password));
    } catch (problem) {
      showProblem(passwordForm, problem);
      if (problem.code === 'wrong_password') {
        const element = fieldError(passwordForm, 'password', problem.title);
        element.value = '';
        element.focus();
      }
    }
  });
  return passwordForm;
}

export function totpSection() {
  const heading = h('h2', { id: 'totp-heading' }, t('totp.heading'));
  const messages = h('div', { class: 'messages' });
  const body = h('div', {});
  const element = h('section', { class: 'card', id: 'autentiseringsapp', 'aria-labelledby': 'totp-heading', hidden: true }, heading, messages, body);

  function cancelButton() {
    return h('button', { type: 'button', class: 'button-secondary', onclick: () => load() }, t('common.cancel'));
  }

  function showStatus(status) {
    if (status.enabled) {
      const remove = h('button', { type: 'button', class: 'button-secondary' }, t('totp.remove'));
      remove.addEventListener('click', () => {
        replace(
          body,
          h('p', {}, t('totp.removeIntro')),
          passwordStep({
            label: t('common.password'),
            submitLabel: t('totp.remove'),
            cancel: cancelButton(),
            onPassword: async (password) => {
              await api.removeTotp(password);
              await load();
              replace(messages, notice('success', h('p', {}, t('totp.removed'))));
              announce(t('totp.removedAnnounce'));
            },
          }),
        );
        input(body.querySelector('form'), 'password').focus();
      });
      replace(
        body,
        h('p', { class: 'status-title' }, t('totp.active')),
        h('p', {}, t('totp.activeSince', { date: dateTime(status.enabled_at) })),
        remove,
      );
      return;
    }
    const start = h('button', { type: 'button', class: 'button-secondary' }, t('totp.start'));
    start.addEventListener('click', () => {
      replace(messages);
      replace(
        body,
        h('p', {}, t('totp.startIntro')),
        passwordStep({
          label: t('common.password'),
          submitLabel: t('totp.continue'),
          cancel: cancelButton(),
          onPassword: async (password) => showEnrolment(await api.startTotp(password)),
        }),
      );
      input(body.querySelector('form'), 'password').focus();
    });
    replace(
      body,
      h('p', {}, t('totp.intro')),
      start,
    );
  }

  function showEnrolment(enrolment) {
    const qr = enrolment.qr_code || enrolment.qr_png_data_uri;
    const submit = h('button', { type: 'submit' }, t('totp.activate'));
    const codeForm = form(
      { class: 'stack' },
      field({ name: 'code', label: t('totp.codeLabel'), inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '7', required: true }),
      h('div', { class: 'actions' }, submit, cancelButton()),
    );
    codeForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(codeForm);
      const code = codeValue(codeForm);
      if (code === null) {
        input(codeForm, 'code').focus();
        showSummary(codeForm, t('totp.codeMissing'));
        return;
      }
      try {
        await busy(submit, () => api.confirmTotp(code));
        await load();
        replace(messages, notice('success', h('p', {}, t('totp.activated'))));
        announce(t('totp.activatedAnnounce'));
      } catch (problem) {
        showProblem(codeForm, problem);
        if (problem.code === 'invalid_code') fieldError(codeForm, 'code', problem.title).focus();
      }
    });
    replace(
      body,
      h(
        'ol',
        { class: 'instructions' },
        h('li', {}, t('totp.step1')),
        h(
          'li',
          {},
          t('totp.step2'),
          qr && qr.startsWith('data:image/') ? h('img', { class: 'qr', src: qr, alt: t('totp.qrAlt'), width: '200', height: '200' }) : null,
          h('span', { class: 'hint' }, t('totp.cannotScan')),
          ' ',
          h('code', { class: 'secret' }, grouped(enrolment.secret || '')),
        ),
        h('li', {}, t('totp.step3')),
      ),
      codeForm,
    );
    input(codeForm, 'code').focus();
  }

  async function load() {
    try {
      const status = await api.totpStatus();
      element.hidden = false;
      showStatus(status);
    } catch (problem) {
      // No authenticator-app routes in this deployment: no section.
      if (problem.status === 404 || problem.status === 405 || problem.code === 'totp_unavailable') {
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
