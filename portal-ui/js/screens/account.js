// The account page ("Konto"): Kontoopplysninger with "Bytt telefonnummer", Bytte passord,
// Hjemmekontor and the authenticator app. `/hjemmekontor` is the same page, opened at its
// Hjemmekontor section (where Buypass sends the user back).

import * as api from '../api.js';
import { announce, busy, h, notice, replace } from '../dom.js';
import { mobile } from '../format.js';
import { homeOfficeSection } from './homeoffice.js';
import { passwordForm } from './password.js';
import { phoneChange } from './phone.js';
import { totpSection } from './totp.js';

function fact(term, ...description) {
  return h('div', { class: 'fact' }, h('dt', {}, term), h('dd', {}, ...description));
}

export function render(context) {
  const { url, data, onDispose } = context;
  const messages = h('div', { class: 'messages' });
  const facts = h('dl', { class: 'facts', 'aria-busy': 'true' });
  replace(facts, h('p', {}, 'Henter kontoopplysninger …'));

  const phone = phoneChange({
    onDispose,
    onChanged: async () => {
      replace(
        messages,
        notice(
          'success',
          h('p', {}, 'Mobilnummeret er endret.'),
          h('p', {}, 'Vi har sendt en melding om endringen til det gamle nummeret.'),
        ),
      );
      announce('Mobilnummeret er endret.');
      await load();
    },
  });

  const passwordMessages = h('div', { class: 'messages' });
  const changePassword = passwordForm({
    onChanged: () => {
      replace(
        passwordMessages,
        notice('success', h('p', {}, 'Passordet er endret.'), h('p', {}, 'Andre innlogginger på kontoen er avsluttet.')),
      );
      announce('Passordet er endret.');
    },
  });

  const homeOffice = homeOfficeSection({ url, onDispose });
  const totp = totpSection({ onDispose });

  function show(account) {
    facts.removeAttribute('aria-busy');
    replace(
      facts,
      fact('Brukernavn', account.username),
      fact('Navn', account.name),
      fact('E-post', account.email || 'Ingen e-post registrert'),
      fact('Mobiltelefon', h('span', { class: 'mobile' }, mobile(account.mobile)), ' ', phone.toggle),
    );
    homeOffice.show(account);
  }

  async function load() {
    try {
      show(await api.account());
    } catch (problem) {
      if (problem.status === 401) return;
      const retry = h('button', { type: 'button', class: 'button-secondary' }, 'Prøv igjen');
      retry.addEventListener('click', () => busy(retry, load));
      replace(messages, notice('error', h('p', {}, problem.title), retry));
    }
  }
  load();

  if (url.pathname === '/hjemmekontor') context.focus = homeOffice.heading;
  if (data && data.notice) replace(messages, notice('success', h('p', {}, data.notice)));

  return h(
    'div',
    { class: 'page' },
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'account-heading' },
      h('h1', { id: 'account-heading' }, 'Kontoopplysninger'),
      messages,
      facts,
      phone.panel,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'password-heading' },
      h('h2', { id: 'password-heading' }, 'Bytte passord'),
      h('p', { class: 'hint' }, 'Her kan du endre passord.'),
      passwordMessages,
      changePassword,
    ),
    homeOffice.element,
    totp,
  );
}
