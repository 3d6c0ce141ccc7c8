// The account page ("Konto"): Kontoopplysninger with "Bytt telefonnummer", Bytte passord,
// Hjemmekontor, the authenticator app, Passnøkler, Gjenopprettingskoder and Sikkerhet (sessions, history, "not me"). `/hjemmekontor` is the same page, opened at its
// Hjemmekontor section (where Buypass sends the user back).

import * as api from '../api.js';
import { announce, busy, h, notice, replace } from '../dom.js';
import { mobile } from '../format.js';
import { t } from '../i18n.js';
import { homeOfficeSection } from './homeoffice.js';
import { passkeysSection } from './passkeys.js';
import { passwordForm } from './password.js';
import { phoneChange } from './phone.js';
import { recoveryCodesSection } from './recovery-codes.js';
import { securitySection } from './security.js';
import { totpSection } from './totp.js';

function fact(term, ...description) {
  return h('div', { class: 'fact' }, h('dt', {}, term), h('dd', {}, ...description));
}

export function render(context) {
  const { url, data, onDispose, state, navigate } = context;
  const messages = h('div', { class: 'messages' });
  const facts = h('dl', { class: 'facts', 'aria-busy': 'true' });
  replace(facts, h('p', {}, t('account.loading')));

  const phone = phoneChange({
    onDispose,
    onChanged: async () => {
      replace(
        messages,
        notice(
          'success',
          h('p', {}, t('account.phoneChanged')),
          h('p', {}, t('account.phoneChangedNotice')),
        ),
      );
      announce(t('account.phoneChanged'));
      await load();
    },
  });

  const passwordMessages = h('div', { class: 'messages' });
  const changePassword = passwordForm({
    onChanged: () => {
      replace(
        passwordMessages,
        notice('success', h('p', {}, t('password.changed')), h('p', {}, t('account.otherSessionsEnded'))),
      );
      announce(t('password.changed'));
    },
  });

  const homeOffice = homeOfficeSection({ url, onDispose });
  const totp = totpSection({ onDispose });
  const passkeys = passkeysSection();
  const recoveryCodes = recoveryCodesSection();
  const security = securitySection({
    onNotMe: () => {
      state.loginNotice = { key: 'notMe.done' };
      navigate('/', null, { replace: true });
    },
  });

  function show(account) {
    facts.removeAttribute('aria-busy');
    replace(
      facts,
      fact(t('common.username'), account.username),
      fact(t('account.name'), account.name),
      fact(t('account.email'), account.email || t('account.noEmail')),
      fact(t('account.mobile'), h('span', { class: 'mobile' }, mobile(account.mobile)), ' ', phone.toggle),
    );
    homeOffice.show(account);
  }

  async function load() {
    try {
      show(await api.account());
    } catch (problem) {
      if (problem.status === 401) return;
      const retry = h('button', { type: 'button', class: 'button-secondary' }, t('common.retry'));
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
      h('h1', { id: 'account-heading' }, t('account.heading')),
      messages,
      facts,
      phone.panel,
    ),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'password-heading' },
      h('h2', { id: 'password-heading' }, t('account.passwordHeading')),
      h('p', { class: 'hint' }, t('account.passwordIntro')),
      passwordMessages,
      changePassword,
    ),
    homeOffice.element,
    totp,
    passkeys,
    recoveryCodes,
    security,
  );
}
