// A new password is required before anything else (the token response said
// `password_change_required`: first login with the password from the SMS, or an operator
// reset it).

import { announce, h } from '../dom.js';
import { passwordForm } from './password.js';

export function render({ state, navigate }) {
  return h(
    'section',
    { class: 'card narrow' },
    h('h1', {}, 'Velg nytt passord'),
    h(
      'p',
      {},
      'Du har logget inn med et passord du har fått tilsendt. Før du kan bruke kundeportalen, må du velge et nytt passord som bare du kjenner.',
    ),
    passwordForm({
      oldLabel: 'Passordet du fikk tilsendt',
      submitLabel: 'Lagre nytt passord',
      onChanged: () => {
        state.passwordChangeRequired = false;
        const target = state.afterLogin || '/konto';
        state.afterLogin = null;
        navigate(target, { notice: 'Passordet er endret.' }, { replace: true });
        announce('Passordet er endret.');
      },
    }),
  );
}
