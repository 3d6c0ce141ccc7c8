// "Innlogging": username and password (sent by NHN), "Husk meg", "Glemt passordet?".

import * as api from '../api.js';
import { busy, checkbox, clearErrors, field, fieldError, form, h, input, link, notice, showProblem, showSummary, value } from '../dom.js';
import { buypassError, BUYPASS_REGISTERED } from '../texts.js';

/** The Buypass result when the user came back from Buypass while signed out. */
function buypassNotice(afterLogin) {
  if (!afterLogin) return null;
  const params = new URL(afterLogin, location.origin).searchParams;
  const result = params.get('buypass');
  if (result === 'registered') {
    return notice('success', h('p', {}, BUYPASS_REGISTERED), h('p', {}, 'Logg inn for å se status for hjemmekontor.'));
  }
  if (result === 'error') return notice('error', h('p', {}, buypassError(params.get('reason'))));
  return null;
}

export function render({ state, navigate }) {
  const submit = h('button', { type: 'submit' }, 'Logg inn');
  const loginForm = form(
    { class: 'stack', 'aria-labelledby': 'login-heading' },
    field({ name: 'username', label: 'Brukernavn', hint: 'Tilsendt fra NHN', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true }),
    field({ name: 'password', label: 'Passord', hint: 'Sendt på SMS', type: 'password', autocomplete: 'current-password', required: true }),
    checkbox({ name: 'remember', label: 'Husk meg' }),
    h('div', { class: 'actions' }, submit, link('/glemt-passord', 'Glemt passordet?')),
  );

  loginForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(loginForm);
    const username = value(loginForm, 'username').trim();
    const password = value(loginForm, 'password');
    const missing = [];
    if (!username) missing.push(fieldError(loginForm, 'username', 'Skriv inn brukernavnet ditt.'));
    if (!password) missing.push(fieldError(loginForm, 'password', 'Skriv inn passordet ditt.'));
    if (missing.length) {
      showSummary(loginForm, 'Fyll inn brukernavn og passord.');
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
    h('h1', { id: 'login-heading' }, 'Innlogging'),
    state.loginNotice ? notice('info', h('p', {}, state.loginNotice)) : null,
    buypassNotice(state.afterLogin),
    h('p', {}, 'Logg inn i kundeportalen med brukernavnet og passordet du har fått fra Norsk Helsenett (NHN).'),
    loginForm,
    h(
      'p',
      { class: 'hint' },
      'Innloggingen har to-faktor autentisering. Du vil motta en kode på SMS såfremt rett mobilnummer er lagt inn på kontoen din.',
    ),
  );
}
