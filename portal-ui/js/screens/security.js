// "Sikkerhet" on /konto (issue 16): the account's sessions with «Logg ut» per row and «Logg ut
// alle andre», the security history (newest first, «Vis eldre» pages back), and «Dette var
// ikke meg» with a confirmation. `/ikke-meg` (the address in the security SMS notices) shows
// the same confirmation on its own page after login.

import * as api from '../api.js';
import { announce, busy, clearErrors, field, fieldError, form, h, input, notice, replace, showProblem, showSummary, value } from '../dom.js';
import { has, t } from '../i18n.js';
import { dateTime } from '../texts.js';

/** The history's wording of an event kind (unknown kinds: a neutral text). */
function eventText(event) {
  const key = `security.event.${event.event}`;
  return /^[a-z_]+$/.test(event.event || '') && has(key) ? t(key) : t('security.event.other');
}

/** Data shown as it is (device names, dates in the page's locale): not a text of ours to translate. */
function data(text, tag = 'span', attributes = {}) {
  return h(tag, { translate: 'no', ...attributes }, text);
}

/** `parts` with ` · ` between them (each its own text, so each stays a whole sentence of ours). */
function joined(parts) {
  return parts.filter(Boolean).flatMap((part, i) => (i === 0 ? [part] : [' · ', part]));
}

/** The part of an event's detail worth a line: masked numbers, the card, the device, the network. */
function eventDetail(event) {
  const detail = event.detail || {};
  const parts = [];
  if (detail.from && detail.to) parts.push(t('security.detail.fromTo', { from: detail.from, to: detail.to }));
  else if (detail.to) parts.push(t('security.detail.to', { to: detail.to }));
  if (detail.serial_number) parts.push(t('security.detail.card', { serial: detail.serial_number }));
  if (detail.device) parts.push(data(detail.device));
  if (event.network) parts.push(t('security.detail.network', { network: event.network }));
  return parts;
}

/**
 * The confirmation of «Dette var ikke meg»: what happens, the password, and the button. On
 * success the session is gone; `onDone` takes the user to the login page.
 */
export function notMeConfirmation({ onDone, onCancel }) {
  const submit = h('button', { type: 'submit', class: 'button-danger' }, t('notMe.confirm'));
  const cancel = onCancel ? h('button', { type: 'button', class: 'button-secondary', onclick: onCancel }, t('common.cancel')) : null;
  const confirmForm = form(
    { class: 'stack', 'aria-labelledby': 'not-me-confirm-heading' },
    field({ name: 'password', label: t('common.password'), type: 'password', autocomplete: 'current-password', required: true }),
    h('div', { class: 'actions' }, submit, cancel),
  );
  confirmForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(confirmForm);
    const password = value(confirmForm, 'password');
    if (!password) {
      fieldError(confirmForm, 'password', t('common.passwordMissing')).focus();
      showSummary(confirmForm, t('common.passwordMissing'));
      return;
    }
    try {
      await busy(submit, () => api.notMe(password));
      onDone();
    } catch (problem) {
      showProblem(confirmForm, problem);
      if (problem.code === 'wrong_password') {
        const element = fieldError(confirmForm, 'password', problem.title);
        element.value = '';
        element.focus();
      }
    }
  });
  return h(
    'div',
    { class: 'panel not-me', role: 'dialog', 'aria-labelledby': 'not-me-confirm-heading' },
    h('h3', { id: 'not-me-confirm-heading' }, t('notMe.confirmHeading')),
    h(
      'ul',
      {},
      h('li', {}, t('notMe.effectSessions')),
      h('li', {}, t('notMe.effectCard')),
      h('li', {}, t('notMe.effectPassword')),
      h('li', {}, t('notMe.effectFactors')),
      h('li', {}, t('notMe.effectSms')),
    ),
    confirmForm,
  );
}

export function securitySection({ onNotMe }) {
  const heading = h('h2', { id: 'security-heading' }, t('security.heading'));
  const messages = h('div', { class: 'messages' });
  const sessionList = h('ul', { class: 'sessions', 'aria-busy': 'true' });
  const endOthers = h('button', { type: 'button', class: 'button-secondary', hidden: true }, t('security.endOthers'));
  const history = h('ol', { class: 'history', 'aria-busy': 'true' });
  const older = h('button', { type: 'button', class: 'button-secondary', hidden: true }, t('security.older'));
  const notMeArea = h('div', {});
  let cursor = null;

  function sessionRow(session) {
    const name = session.device || t('security.unknownDevice');
    const label = session.device ? data(session.device) : name;
    const end = session.current
      ? h('span', { class: 'this-device' }, t('security.thisDevice'))
      : h('button', { type: 'button', class: 'button-secondary', 'aria-label': t('security.endOneLabel', { device: name }) }, t('security.endOne'));
    if (!session.current) {
      end.addEventListener('click', () =>
        busy(end, async () => {
          try {
            await api.endSession(session.id);
            // The list first: when the notice says the login has ended, its row is gone.
            await loadSessions();
            replace(messages, notice('success', h('p', {}, t('security.ended'))));
            announce(t('security.ended'));
            await loadHistory(true);
          } catch (problem) {
            if (problem.status === 401) return;
            replace(messages, notice('error', h('p', {}, problem.title)));
          }
        }),
      );
    }
    return h(
      'li',
      { class: 'session-row', 'data-session': session.current ? 'current' : 'other' },
      h(
        'div',
        {},
        h('p', { class: 'status-title' }, label),
        h(
          'p',
          { class: 'hint' },
          joined([
            t('security.sessionTimes', { created: dateTime(session.created_at), used: dateTime(session.last_used_at) }),
            session.network ? t('security.detail.network', { network: session.network }) : null,
            session.remember_me ? t('security.rememberMe') : null,
          ]),
        ),
      ),
      end,
    );
  }

  async function loadSessions() {
    try {
      const { sessions } = await api.sessions();
      sessionList.removeAttribute('aria-busy');
      replace(sessionList, sessions.map(sessionRow));
      endOthers.hidden = !sessions.some((s) => !s.current);
    } catch (problem) {
      if (problem.status === 401) return;
      replace(sessionList, h('li', {}, notice('error', h('p', {}, problem.title))));
    }
  }

  function historyRow(event) {
    return h(
      'li',
      { class: 'history-row', 'data-event': event.event },
      h('p', { class: 'status-title' }, eventText(event)),
      h('p', { class: 'hint' }, joined([data(dateTime(event.at), 'time', { datetime: event.at }), ...eventDetail(event)])),
    );
  }

  async function loadHistory(fresh) {
    try {
      const page = await api.securityEvents(fresh ? null : cursor);
      history.removeAttribute('aria-busy');
      const rows = page.events.map(historyRow);
      if (fresh) replace(history, rows.length ? rows : [h('li', {}, t('security.noEvents'))]);
      else history.append(...rows);
      cursor = page.next_cursor;
      older.hidden = !cursor;
    } catch (problem) {
      if (problem.status === 401) return;
      replace(history, h('li', {}, notice('error', h('p', {}, problem.title))));
    }
  }

  endOthers.addEventListener('click', () =>
    busy(endOthers, async () => {
      try {
        const { sessions_ended: ended } = await api.endOtherSessions();
        await loadSessions();
        replace(messages, notice('success', h('p', {}, t('security.othersEnded', { n: String(ended) }))));
        announce(t('security.othersEndedAnnounce'));
        await loadHistory(true);
      } catch (problem) {
        if (problem.status === 401) return;
        replace(messages, notice('error', h('p', {}, problem.title)));
      }
    }),
  );
  older.addEventListener('click', () => busy(older, () => loadHistory(false)));

  const notMeButton = h('button', { type: 'button', class: 'button-danger' }, t('notMe.button'));
  function showNotMeButton() {
    replace(notMeArea, h('p', {}, t('notMe.intro')), notMeButton);
  }
  notMeButton.addEventListener('click', () => {
    replace(notMeArea, notMeConfirmation({ onDone: onNotMe, onCancel: showNotMeButton }));
    input(notMeArea.querySelector('form'), 'password').focus();
  });
  showNotMeButton();

  loadSessions();
  loadHistory(true);

  return h(
    'section',
    { class: 'card', id: 'sikkerhet', 'aria-labelledby': 'security-heading' },
    heading,
    messages,
    h('h3', {}, t('security.sessionsHeading')),
    h('p', { class: 'hint' }, t('security.sessionsIntro')),
    sessionList,
    h('div', { class: 'actions' }, endOthers),
    h('h3', {}, t('security.historyHeading')),
    h('p', { class: 'hint' }, t('security.historyIntro')),
    history,
    h('div', { class: 'actions' }, older),
    h('h3', {}, t('notMe.heading')),
    notMeArea,
  );
}

/** `/ikke-meg`: the confirmation on its own page, reached from a security SMS after login. */
export function render({ state, navigate }) {
  const done = () => {
    state.loginNotice = { key: 'notMe.done' };
    navigate('/', null, { replace: true });
  };
  return h(
    'section',
    { class: 'card narrow' },
    h('h1', { id: 'not-me-heading' }, t('notMe.pageHeading')),
    h('p', {}, t('notMe.pageIntro')),
    notMeConfirmation({ onDone: done, onCancel: () => navigate('/konto') }),
  );
}
