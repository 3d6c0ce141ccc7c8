// A new password is required before anything else (the token response said
// `password_change_required`: first login with the password from the SMS, or an operator
// reset it).

import { announce, h } from '../dom.js';
import { t } from '../i18n.js';
import { passwordForm } from './password.js';

export function render({ state, navigate }) {
  return h(
    'section',
    { class: 'card narrow' },
    h('h1', {}, t('firstPassword.heading')),
    h('p', {}, t('firstPassword.intro')),
    passwordForm({
      oldLabel: t('firstPassword.old'),
      submitLabel: t('firstPassword.submit'),
      onChanged: () => {
        state.passwordChangeRequired = false;
        const target = state.afterLogin || '/konto';
        state.afterLogin = null;
        navigate(target, { notice: t('password.changed') }, { replace: true });
        announce(t('password.changed'));
      },
    }),
  );
}
