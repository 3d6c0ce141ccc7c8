// "Hjemmekontor": whether the account is activated for the service, the Buypass card's status
// (kept live by polling the account while activation is pending), the four steps, and
// "Registrer Buypasskort", which asks for the current password (a new card replaces the old
// one, so a session alone is not enough) and sends the user to Buypass. Buypass sends the user
// back to `/hjemmekontor?buypass=registered` or `?buypass=error&reason=…`.

import * as api from '../api.js';
import { announce, busy, clearErrors, field, fieldError, form, h, notice, replace, showProblem, showSummary, value } from '../dom.js';
import { BUYPASS_REGISTERED, buypassError, CUSTOMER_CENTRE, dateTime } from '../texts.js';

const STEPS = [
  'Gå til registreringsløsningen',
  'Logg inn med Buypasskortet ditt',
  'Du blir sendt tilbake til kundeportalen',
  'Kontoen din er klar',
];

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
    STEPS.map((text, index) => {
      const state = index < done ? 'done' : index === done ? 'current' : 'todo';
      return h(
        'li',
        { class: `step step-${state}`, 'aria-current': state === 'current' ? 'step' : null },
        h('span', { class: 'step-number', 'aria-hidden': 'true' }, state === 'done' ? '✓' : String(index + 1)),
        h('span', { class: 'step-text' }, text),
        state === 'done' ? h('span', { class: 'sr-only' }, ' (fullført)') : null,
      );
    }),
  );
}

function cardStatus(buypass) {
  switch (buypass.status) {
    case 'pending':
      return [
        h('p', { class: 'status-title' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), 'Buypasskortet ditt er registrert. Hjemmekontor gjøres klart.'),
        buypass.serial_number ? h('p', {}, `Serienummer: ${buypass.serial_number}`) : null,
        h('p', {}, 'Denne siden oppdateres av seg selv når hjemmekontor er klart til bruk.'),
      ];
    case 'active':
      return [
        h('p', { class: 'status-title' }, 'Hjemmekontor er klart til bruk'),
        h(
          'p',
          {},
          `Buypasskortet ditt${buypass.serial_number ? ` (serienummer ${buypass.serial_number})` : ''} er registrert og aktivert`,
          buypass.activated_at ? ` ${dateTime(buypass.activated_at)}.` : '.',
        ),
        h('p', {}, 'Fortsett med installasjonsveiledningen for datamaskinen du har hjemme (PC eller Mac).'),
      ];
    case 'failed':
      return [
        h('p', { class: 'status-title' }, 'Aktiveringen av Buypasskortet ditt feilet'),
        h('p', {}, `Registrer kortet på nytt. Lykkes det ikke, kontakt kundesenteret på ${CUSTOMER_CENTRE}.`),
      ];
    default:
      return [h('p', { class: 'status-title' }, 'Ditt Buypasskort er ikke registrert i våre systemer')];
  }
}

/** The result of the Buypass round trip in the address, if any (then removed from it). */
function takeBuypassResult(url) {
  const result = url.searchParams.get('buypass');
  if (!result) return null;
  history.replaceState(null, '', url.pathname);
  if (result === 'registered') return notice('success', h('p', {}, BUYPASS_REGISTERED));
  return notice('error', h('p', { class: 'error-title' }, 'Buypasskortet ble ikke registrert'), h('p', {}, buypassError(url.searchParams.get('reason'))));
}

export function homeOfficeSection({ url, onDispose }) {
  const heading = h('h2', { id: 'homeoffice-heading', tabindex: '-1' }, 'Hjemmekontor');
  const result = h('div', { class: 'messages' });
  const body = h('div', { class: 'homeoffice-body' }, h('p', {}, 'Henter status for hjemmekontor …'));
  const element = h('section', { class: 'card', id: 'hjemmekontor', 'aria-labelledby': 'homeoffice-heading' }, heading, result, body);

  const fromBuypass = takeBuypassResult(url);
  if (fromBuypass) replace(result, fromBuypass);

  // The live status: one region whose text changes from pending to active.
  const status = h('div', { class: 'card-status', role: 'status', 'aria-live': 'polite' });
  const stepsHolder = h('div', {});
  const register = h('button', { type: 'submit' }, 'Registrer Buypasskort');
  const registerForm = form(
    { class: 'stack' },
    field({ name: 'password', label: 'Passordet ditt', hint: 'Passordet du logger inn i kundeportalen med, for å bekrefte at det er deg. Et nytt kort erstatter kortet du har registrert.', type: 'password', autocomplete: 'current-password', required: true }),
    h('div', { class: 'actions' }, register),
  );
  registerForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(registerForm);
    const password = value(registerForm, 'password');
    if (!password) {
      const element = fieldError(registerForm, 'password', 'Skriv inn passordet ditt.');
      showSummary(registerForm, 'Registreringen ble ikke startet.');
      element.focus();
      return;
    }
    try {
      const started = await busy(register, () => api.startBuypass(password));
      const target = new URL(started.authorization_url, location.origin);
      if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new Error('unexpected authorization URL');
      location.assign(target.href);
    } catch (problem) {
      // An API problem has its Norwegian title; anything else (no network) gets a plain one.
      if (Array.isArray(problem.errors)) showProblem(registerForm, problem);
      else showSummary(registerForm, 'Registreringen kunne ikke startes. Prøv igjen.');
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
    h('p', {}, 'For å kunne benytte deg av tjenesten må du bekrefte og registrere ditt buypasskort via Buypass sin egen tjeneste.'),
    h(
      'p',
      { class: 'hint' },
      'Dette kortet kan du bestille gjennom din journalleverandør, gjennom eventuell leverandør av kommunikasjonsløsning (EDI), eller direkte fra Buypass. For hjelp med pin-koder må du ta kontakt med Buypass på telefon 61 13 59 20 eller via www.buypass.no.',
    ),
  );

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
        h('p', { class: 'status-title' }, 'Kontoen din er ikke aktivert for hjemmekontorløsningen'),
        h('p', {}, `Skal du bruke hjemmekontor, kontakt kundesenteret på ${CUSTOMER_CENTRE}.`),
      );
      return;
    }
    if (buypass.status !== lastStatus) {
      const firstShow = lastStatus === null;
      lastStatus = buypass.status;
      status.className = `card-status card-status-${buypass.status}`;
      replace(status, ...cardStatus(buypass));
      replace(stepsHolder, steps(buypass.status));
      explanation.hidden = buypass.status === 'active';
      register.textContent = buypass.status === 'not_registered' ? 'Registrer Buypasskort' : 'Registrer nytt Buypasskort';
      if (!firstShow && buypass.status === 'active') announce('Hjemmekontor er klart til bruk.');
    }
    if (buypass.status === 'pending') schedulePoll();
    else pollingSince = 0;
  }

  function show(account) {
    if (!body.contains(status)) {
      replace(
        body,
        h('p', {}, 'Du har en konto som er aktivert for hjemmekontorløsningen.'),
        status,
        explanation,
        stepsHolder,
        h('p', { class: 'note' }, 'Det kan ta inntil 15 minutter før hjemmekontor er klart til bruk etter oppdatering av serienummer.'),
        h(
          'div',
          { class: 'register' },
          h('p', { class: 'status-title' }, 'Sett buypasskortet i kortleser'),
          h('p', {}, 'Du vil da bli tatt med til en innloggingsside hos Buypass. Velg da å logge inn med smartkort («Buypass ID på smartkort»).'),
          registerForm,
        ),
      );
    }
    update(account);
  }

  return { element, heading, show };
}
