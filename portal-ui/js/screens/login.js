// "Innlogging": username and password (sent by NHN), "Husk meg", "Glemt passordet?".

import * as api from '../api.js';
import { busy, checkbox, clearErrors, field, fieldError, form, h, input, link, notice, showProblem, showSummary, value } from '../dom.js';
import { t } from '../i18n.js';
import { buypassError } from '../texts.js';

/** The Buypass result when the user came back from Buypass while signed out. */
function buypassNotice(afterLogin) {
  if (!afterLogin) return null;
  const params = new URL(afterLogin, location.origin).searchParams;
  const result = params.get('buypass');
  if (result === 'registered') {
    return notice('success', h('p', {}, t('buypass.registered')), h('p', {}, t('login.registeredLogIn')));
  }
  if (result === 'error') return notice('error', h('p', {}, buypassError(params.get('reason'))));
  return null;
}

export function render({ state, navigate }) {
  const submit = h('button', { type: 'submit' }, t('login.submit'));
  const loginForm = form(
    { class: 'stack', 'aria-labelledby': 'login-heading' },
    field({ name: 'username', label: t('common.username'), hint: t('login.usernameHint'), autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true }),
    field({ name: 'password', label: t('common.password'), hint: t('login.passwordHint'), type: 'password', autocomplete: 'current-password', required: true }),
    checkbox({ name: 'remember', label: t('login.remember') }),
    h('div', { class: 'actions' }, submit, link('/glemt-passord', t('login.forgot'))),
  );

  loginForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(loginForm);
    const username = value(loginForm, 'username').trim();
    const password = value(loginForm, 'password');
    const missing = [];
    if (!username) missing.push(fieldError(loginForm, 'username', t('common.usernameMissing')));
    if (!password) missing.push(fieldError(loginForm, 'password', t('common.passwordMissing')));
    if (missing.length) {
      showSummary(loginForm, t('login.missingSummary'));
      missing[0].focus();
      return;
    }
    try {
      const challenge = await busy(submit, () => api.login(username, password, input(loginForm, 'remember').checked));
      navigate('/kode', { challenge, username });
    } catch (problem) {
      showProblem(loginForm, problem);
      input(loginForm, 'password').value = '';
      input(loginForm, 'password').focus();
    }
  });

  return h(
    'section',
    { class: 'card narrow' },
    h('h1', { id: 'login-heading' }, t('login.heading')),
    state.loginNotice ? notice('info', h('p', {}, state.loginNotice.key ? t(state.loginNotice.key) : state.loginNotice.text)) : null,
    buypassNotice(state.afterLogin),
    h('p', {}, t('login.intro')),
    loginForm,
    h('p', { class: 'hint' }, t('login.twoFactor')),
  );
}
