// The portal's entry point: restores the session from the refresh cookie, then shows the
// screen of the current address in the page's language (bokmål unless the user chose another
// with the switcher in the header; switching renders the screen again, in the same session).
// Client-side routes:
//   /               Innlogging
//   /kode           Bekreft kode (SMS or authenticator app)
//   /glemt-passord  forgotten password
//   /bytt-passord   new password required after the first login
//   /konto          Kontoopplysninger, Bytte passord, Hjemmekontor, authenticator app
//   /hjemmekontor   the same page at its Hjemmekontor section; where Buypass sends the user back
//   /ikke-meg       "Dette var ikke meg" (the address in the security SMS notices): login first,
//                   then the confirmation

import * as api from './api.js';
import { h, replace } from './dom.js';
import { language, LANGUAGES, onLanguageChange, setLanguage, t } from './i18n.js';
import * as loginScreen from './screens/login.js';
import * as codeScreen from './screens/code.js';
import * as forgotScreen from './screens/forgot.js';
import * as firstPasswordScreen from './screens/first-password.js';
import * as accountScreen from './screens/account.js';
import * as notMeScreen from './screens/security.js';
import { askForSecondFactor } from './stepup.js';

const ROUTES = {
  '/': { screen: loginScreen, signedOut: true },
  '/kode': { screen: codeScreen, signedOut: true },
  '/glemt-passord': { screen: forgotScreen },
  '/bytt-passord': { screen: firstPasswordScreen, signedIn: true },
  '/konto': { screen: accountScreen, signedIn: true },
  '/hjemmekontor': { screen: accountScreen, signedIn: true },
  '/ikke-meg': { screen: notMeScreen, signedIn: true },
};

const main = document.getElementById('main');
const sessionNav = document.getElementById('session-nav');
const languageNav = document.getElementById('language-nav');

const state = {
  passwordChangeRequired: false,
  // Where to go after logging in (the address asked for while signed out).
  afterLogin: null,
  // A message for the login screen (why the session ended).
  loginNotice: null,
};

let handoff = null;
// What the current screen was handed, so a language switch can render it again as it was.
let shown = null;
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
  state.loginNotice = { key: 'app.loggedOut' };
  navigate('/', null, { replace: true });
}

api.onStepUpRequired(askForSecondFactor);

api.onSessionLost((problem) => {
  state.loginNotice = problem.code === 'unauthenticated' ? { key: 'app.sessionEnded' } : { text: problem.title };
  const here = location.pathname;
  if (ROUTES[here] && ROUTES[here].signedIn) state.afterLogin = here;
  navigate('/', null, { replace: true });
});

function renderSessionNav() {
  if (api.signedIn()) {
    replace(
      sessionNav,
      h('span', { class: 'nav-label' }, t('chrome.accountNav')),
      h('button', { type: 'button', class: 'button-link', onclick: logout }, t('nav.logout')),
    );
  } else {
    replace(sessionNav);
  }
}

/** Bokmål / Nynorsk / English, each named in its own language. */
function renderLanguageNav() {
  languageNav.setAttribute('aria-label', t('chrome.languageNav'));
  replace(
    languageNav,
    LANGUAGES.map((code) =>
      h(
        'button',
        {
          type: 'button',
          class: 'button-link language-choice',
          lang: code,
          'aria-pressed': code === language() ? 'true' : 'false',
          onclick: () => {
            if (code !== language()) setLanguage(code);
          },
        },
        t(`lang.${code}`),
      ),
    ),
  );
}

/** The texts of index.html outside `main`. */
function renderChrome() {
  document.documentElement.lang = language();
  const skip = document.querySelector('.skip-link');
  if (skip) skip.textContent = t('chrome.skipLink');
  const brand = document.querySelector('.brand');
  if (brand) {
    replace(brand, h('span', { class: 'brand-name' }, t('chrome.brandName')), ' ', h('span', { class: 'brand-area' }, t('chrome.brandArea')));
  }
  sessionNav.setAttribute('aria-label', t('chrome.accountNav'));
  const footer = document.getElementById('footer-text');
  if (footer) replace(footer, t('chrome.footer'), ' ', h('a', { href: 'tel:+4724200000' }, '24 20 00 00'));
  renderLanguageNav();
}

function notFound() {
  return h(
    'section',
    {},
    h('h1', {}, t('notFound.heading')),
    h('p', {}, t('notFound.text')),
    h('p', {}, h('a', { href: '/', 'data-link': true }, t('notFound.link'))),
  );
}

function render() {
  for (const dispose of disposers) dispose();
  disposers = [];
  const url = new URL(location.href);
  const route = ROUTES[url.pathname];
  const data = handoff;
  handoff = null;
  shown = data;

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

  renderChrome();
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
  document.title = t('chrome.title', { page: heading ? heading.textContent : t('chrome.titleDefault') });
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

// A new language: the same screen with the same data, in the same session (the access token
// stays in memory). A signed-in user's account takes the language too, for its SMS.
onLanguageChange((code) => {
  handoff = shown;
  render();
  if (api.signedIn()) api.setAccountLanguage(code).catch(() => null);
});

async function start() {
  try {
    const tokens = await api.refresh();
    if (tokens) state.passwordChangeRequired = Boolean(tokens.password_change_required);
  } catch (problem) {
    state.loginNotice = { text: problem.title };
  }
  render();
}

start();
