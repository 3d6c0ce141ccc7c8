// "Hjemmekontor": whether the account is activated for the service, the Buypass card's status
// (kept live by polling the account while activation is pending), the four steps, and
// "Registrer Buypasskort", which asks for the current password (a new card replaces the old
// one, so a session alone is not enough) and sends the user to Buypass. Buypass sends the user
// back to `/hjemmekontor?buypass=registered` or `?buypass=error&reason=…`.

import * as api from '../api.js';
import { announce, busy, clearErrors, field, fieldError, form, h, notice, replace, showProblem, showSummary, value } from '../dom.js';
import { t } from '../i18n.js';
import { buypassError, CUSTOMER_CENTRE, dateTime } from '../texts.js';

const STEPS = ['homeoffice.step1', 'homeoffice.step2', 'homeoffice.step3', 'homeoffice.step4'];

// While activation is pending: every 2 s for the first minute, then every 10 s.
const FAST_POLL_MS = 2_000;
const SLOW_POLL_MS = 10_000;
const FAST_POLL_FOR_MS = 60_000;

/** How many steps are done for a card status. */
function stepsDone(status) {
  if (status === 'active') return 4;
  if (status === 'pending') return 3;
  return 0;
}

function steps(status) {
  const done = stepsDone(status);
  return h(
    'ol',
    { class: 'steps' },
    STEPS.map((key, index) => {
      const state = index < done ? 'done' : index === done ? 'current' : 'todo';
      return h(
        'li',
        { class: `step step-${state}`, 'aria-current': state === 'current' ? 'step' : null },
        h('span', { class: 'step-number', 'aria-hidden': 'true' }, state === 'done' ? '✓' : String(index + 1)),
        h('span', { class: 'step-text' }, t(key)),
        state === 'done' ? h('span', { class: 'sr-only' }, ' ', t('homeoffice.stepDone')) : null,
      );
    }),
  );
}

/** "Your card (serial …) is registered and activated (date)." in one sentence. */
function activeText({ serial_number: serial, activated_at: at }) {
  const date = dateTime(at);
  if (serial && date) return t('homeoffice.activeSerialDate', { serial, date });
  if (serial) return t('homeoffice.activeSerial', { serial });
  if (date) return t('homeoffice.activeDate', { date });
  return t('homeoffice.active');
}

function cardStatus(buypass) {
  switch (buypass.status) {
    case 'pending':
      return [
        h('p', { class: 'status-title' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), t('homeoffice.pending')),
        buypass.serial_number ? h('p', {}, t('homeoffice.serial', { serial: buypass.serial_number })) : null,
        h('p', {}, t('homeoffice.autoUpdate')),
      ];
    case 'active':
      return [
        h('p', { class: 'status-title' }, t('homeoffice.ready')),
        h('p', {}, activeText(buypass)),
        h('p', {}, t('homeoffice.continue')),
      ];
    case 'failed':
      return [
        h('p', { class: 'status-title' }, t('homeoffice.failed')),
        h('p', {}, t('homeoffice.failedHelp', { phone: CUSTOMER_CENTRE })),
      ];
    default:
      return [h('p', { class: 'status-title' }, t('homeoffice.notRegistered'))];
  }
}

/**
 * The result of the Buypass round trip in the address, if any (then removed from it):
 * `{ registered, element }`.
 */
function takeBuypassResult(url) {
  const result = url.searchParams.get('buypass');
  if (!result) return null;
  history.replaceState(null, '', url.pathname);
  if (result === 'registered') return { registered: true, element: notice('success', h('p', {}, t('buypass.registered'))) };
  return {
    registered: false,
    element: notice('error', h('p', { class: 'error-title' }, t('homeoffice.notRegisteredResult')), h('p', {}, buypassError(url.searchParams.get('reason')))),
  };
}

export function homeOfficeSection({ url, onDispose }) {
  const heading = h('h2', { id: 'homeoffice-heading', tabindex: '-1' }, t('homeoffice.heading'));
  const result = h('div', { class: 'messages' });
  const body = h('div', { class: 'homeoffice-body' }, h('p', {}, t('homeoffice.loading')));
  const element = h('section', { class: 'card', id: 'hjemmekontor', 'aria-labelledby': 'homeoffice-heading' }, heading, result, body);

  const fromBuypass = takeBuypassResult(url);
  if (fromBuypass) replace(result, fromBuypass.element);

  // The live status: one region whose text changes from pending to active.
  const status = h('div', { class: 'card-status', role: 'status', 'aria-live': 'polite' });
  const stepsHolder = h('div', {});
  const register = h('button', { type: 'submit' }, t('homeoffice.register'));
  const registerForm = form(
    { class: 'stack' },
    field({ name: 'password', label: t('homeoffice.password'), hint: t('homeoffice.passwordHint'), type: 'password', autocomplete: 'current-password', required: true }),
    h('div', { class: 'actions' }, register),
  );
  registerForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(registerForm);
    const password = value(registerForm, 'password');
    if (!password) {
      const element = fieldError(registerForm, 'password', t('common.passwordMissing'));
      showSummary(registerForm, t('homeoffice.notStarted'));
      element.focus();
      return;
    }
    try {
      const started = await busy(register, () => api.startBuypass(password));
      const target = new URL(started.authorization_url, location.origin);
      if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new Error('unexpected authorization URL');
      location.assign(target.href);
    } catch (problem) {
      // An API problem has its title in the page's language; anything else (no network) a plain one.
      if (Array.isArray(problem.errors)) showProblem(registerForm, problem);
      else showSummary(registerForm, t('homeoffice.startFailed'));
      if (problem.code === 'wrong_password') {
        const element = fieldError(registerForm, 'password', problem.title);
        element.value = '';
        element.focus();
      }
    }
  });

  const explanation = h(
    'div',
    {},
    h('p', {}, t('homeoffice.explanation')),
    h('p', { class: 'hint' }, t('homeoffice.order')),
  );
  // "It can take up to 15 minutes…": true only until the card is active.
  const note = h('p', { class: 'note' }, t('homeoffice.note'));

  let lastStatus = null;
  let timer = null;
  let pollingSince = 0;
  let disposed = false;
  onDispose(() => {
    disposed = true;
    clearTimeout(timer);
  });

  function schedulePoll() {
    clearTimeout(timer);
    if (disposed) return;
    if (!pollingSince) pollingSince = Date.now();
    const wait = Date.now() - pollingSince < FAST_POLL_FOR_MS ? FAST_POLL_MS : SLOW_POLL_MS;
    timer = setTimeout(async () => {
      if (disposed) return;
      if (document.hidden) return schedulePoll();
      try {
        update(await api.account());
      } catch {
        schedulePoll();
      }
      return undefined;
    }, wait);
  }

  function update(account) {
    if (disposed) return;
    const { enabled, buypass } = account.home_office;
    if (!enabled) {
      replace(
        body,
        h('p', { class: 'status-title' }, t('homeoffice.notEnabled')),
        h('p', {}, t('homeoffice.notEnabledHelp', { phone: CUSTOMER_CENTRE })),
      );
      return;
    }
    if (buypass.status !== lastStatus) {
      const firstShow = lastStatus === null;
      lastStatus = buypass.status;
      status.className = `card-status card-status-${buypass.status}`;
      replace(status, ...cardStatus(buypass));
      replace(stepsHolder, steps(buypass.status));
      const active = buypass.status === 'active';
      explanation.hidden = active;
      note.hidden = active;
      // The "registered, can take up to 15 minutes" result gives way to the ready state.
      if (active && fromBuypass && fromBuypass.registered) replace(result);
      register.textContent = buypass.status === 'not_registered' ? t('homeoffice.register') : t('homeoffice.registerNew');
      if (!firstShow && active) announce(t('homeoffice.readyAnnounce'));
    }
    if (buypass.status === 'pending') schedulePoll();
    else pollingSince = 0;
  }

  function show(account) {
    if (!body.contains(status)) {
      replace(
        body,
        h('p', {}, t('homeoffice.enabled')),
        status,
        explanation,
        stepsHolder,
        note,
        h(
          'div',
          { class: 'register' },
          h('p', { class: 'status-title' }, t('homeoffice.insertCard')),
          h('p', {}, t('homeoffice.insertCardHelp')),
          registerForm,
        ),
      );
    }
    update(account);
  }

  return { element, heading, show };
}
