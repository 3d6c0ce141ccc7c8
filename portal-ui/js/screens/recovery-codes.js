// "Gjenopprettingskoder": ten single-use codes, the last resort for logging in and for a new
// password when the passkey and the authenticator app are both lost. Made (again) with the
// password; shown once, since the API keeps only keyed hashes of them. Hidden when this
// deployment has no recovery-code routes.

import * as api from '../api.js';
import { announce, h, notice, replace } from '../dom.js';
import { t } from '../i18n.js';
import { dateTime } from '../texts.js';
import { passwordStep } from './totp.js';

export function recoveryCodesSection() {
  const heading = h('h2', { id: 'recovery-heading' }, t('recovery.heading'));
  const messages = h('div', { class: 'messages' });
  const body = h('div', {});
  const element = h(
    'section',
    { class: 'card', id: 'gjenopprettingskoder', 'aria-labelledby': 'recovery-heading', hidden: true },
    heading,
    messages,
    body,
  );

  function cancelButton() {
    return h('button', { type: 'button', class: 'button-secondary', onclick: () => load() }, t('common.cancel'));
  }

  function showStatus(status) {
    const make = h('button', { type: 'button', class: 'button-secondary' }, status.remaining > 0 ? t('recovery.regenerate') : t('recovery.generate'));
    make.addEventListener('click', () => {
      replace(messages);
      replace(
        body,
        h('p', {}, status.remaining > 0 ? t('recovery.regenerateIntro') : t('recovery.generateIntro')),
        passwordStep({
          label: t('common.password'),
          submitLabel: t('recovery.generate'),
          cancel: cancelButton(),
          onPassword: async (password) => showCodes(await api.newRecoveryCodes(password)),
        }),
      );
      body.querySelector('input[name="password"]').focus();
    });
    replace(
      body,
      h('p', {}, t('recovery.intro')),
      h(
        'p',
        { class: 'status-title' },
        status.remaining > 0
          ? t('recovery.remaining', { n: status.remaining, date: dateTime(status.created_at) })
          : t('recovery.none'),
      ),
      make,
    );
  }

  function showCodes(made) {
    const done = h('button', { type: 'button' }, t('recovery.stored'));
    done.addEventListener('click', () => {
      replace(messages);
      load();
    });
    replace(
      body,
      notice('info', h('p', {}, t('recovery.showOnce')), h('p', {}, t('recovery.oldOnesGone'))),
      h('ol', { class: 'recovery-codes', 'aria-label': t('recovery.heading') }, (made.codes || []).map((code) => h('li', {}, h('code', {}, code)))),
      h('div', { class: 'actions' }, done),
    );
    announce(t('recovery.madeAnnounce'));
    done.focus();
  }

  async function load() {
    try {
      const status = await api.recoveryCodesStatus();
      element.hidden = false;
      showStatus(status);
    } catch (problem) {
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
