// The portal's entry point: restores the session from the refresh cookie, then shows the
// screen of the current address. Client-side routes:
//   /               Innlogging
//   /kode           Bekreft kode (SMS or authenticator app)
//   /glemt-passord  forgotten password
//   /bytt-passord   new password required after the first login
//   /konto          Kontoopplysninger, Bytte passord, Hjemmekontor, authenticator app
//   /hjemmekontor   the same page at its Hjemmekontor section; where Buypass sends the user back

import * as api from './api.js';
import { h, replace } from './dom.js';
import * as loginScreen from './screens/login.js';
import * as codeScreen from './screens/code.js';
import * as forgotScreen from './screens/forgot.js';
import * as firstPasswordScreen from './screens/first-password.js';
import * as accountScreen from './screens/account.js';

const ROUTES = {
  '/': { screen: loginScreen, signedOut: true },
  '/kode': { screen: codeScreen, signedOut: true },
  '/glemt-passord': { screen: forgotScreen },
  '/bytt-passord': { screen: firstPasswordScreen, signedIn: true },
  '/konto': { screen: accountScreen, signedIn: true },
  '/hjemmekontor': { screen: accountScreen, signedIn: true },
};

const main = document.getElementById('main');
const sessionNav = document.getElementById('session-nav');

const state = {
  passwordChangeRequired: false,
  // Where to go after logging in (the address asked for while signed out).
  afterLogin: null,
  // A message for the login screen (why the session ended).
  loginNotice: null,
};

let handoff = null;
let disposers = [];

/** Goes to `path` (pushing a history entry unless `replace`); `data` is handed to the screen. */
function navigate(path, data = null, { replace: replacing = false } = {}) {
  handoff = data;
  if (replacing) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

/** After a successful second factor (or a refresh): remembers the session and moves on. */
function signedIn(tokens) {
  state.passwordChangeRequired = Boolean(tokens && tokens.password_change_required);
  state.loginNotice = null;
  const target = state.afterLogin || '/konto';
  state.afterLogin = null;
  navigate(state.passwordChangeRequired ? '/bytt-passord' : target, null, { replace: true });
}

async function logout() {
  await api.logout().catch(() => null);
  state.passwordChangeRequired = false;
  state.afterLogin = null;
  state.loginNotice = 'Du er logget ut.';
  navigate('/', null, { replace: true });
}

api.onSessionLost((problem) => {
  state.loginNotice = problem.code === 'unauthenticated' ? 'Økten er avsluttet. Logg inn på nytt.' : problem.title;
  const here = location.pathname;
  if (ROUTES[here] && ROUTES[here].signedIn) state.afterLogin = here;
  navigate('/', null, { replace: true });
});

function renderSessionNav() {
  if (api.signedIn()) {
    replace(
      sessionNav,
      h('span', { class: 'nav-label' }, 'Konto'),
      h('button', { type: 'button', class: 'button-link', onclick: logout }, 'Logg ut'),
    );
  } else {
    replace(sessionNav);
  }
}

function notFound() {
  return h(
    'section',
    {},
    h('h1', {}, 'Fant ikke siden'),
    h('p', {}, 'Adressen finnes ikke i kundeportalen.'),
    h('p', {}, h('a', { href: '/', 'data-link': true }, 'Gå til forsiden')),
  );
}

function render() {
  for (const dispose of disposers) dispose();
  disposers = [];
  const url = new URL(location.href);
  const route = ROUTES[url.pathname];
  const data = handoff;
  handoff = null;

  if (route && route.signedIn && !api.signedIn()) {
    state.afterLogin = url.pathname + url.search;
    return navigate('/', null, { replace: true });
  }
  if (route && route.signedOut && api.signedIn()) {
    return navigate(state.passwordChangeRequired ? '/bytt-passord' : '/konto', null, { replace: true });
  }
  if (api.signedIn() && state.passwordChangeRequired && url.pathname !== '/bytt-passord' && route) {
    return navigate('/bytt-passord', null, { replace: true });
  }

  renderSessionNav();
  const context = {
    url,
    data,
    state,
    navigate,
    signedIn,
    logout,
    onDispose: (dispose) => disposers.push(dispose),
  };
  const view = route ? route.screen.render(context) : notFound();
  replace(main, view);
  const heading = main.querySelector('h1');
  document.title = `${heading ? heading.textContent : 'Kundeportal'} – Norsk Helsenett kundeportal`;
  if (context.focus) {
    context.focus.focus();
  } else if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
  return undefined;
}

// Links marked `data-link` change screens without loading the page again.
document.addEventListener('click', (event) => {
  const anchor = event.target instanceof Element ? event.target.closest('a[data-link]') : null;
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(anchor.getAttribute('href'));
});

window.addEventListener('popstate', () => render());

async function start() {
  try {
    const tokens = await api.refresh();
    if (tokens) state.passwordChangeRequired = Boolean(tokens.password_change_required);
  } catch (problem) {
    state.loginNotice = problem.title;
  }
  render();
}

start();
