// The portal API client: JSON in and out, RFC 9457 problems as `ApiProblem`, the access token
// in memory only (never in any browser storage), and the refresh cookie (HttpOnly, set by the
// API) to open a new access token on load and before the old one runs out. Every call asks
// for the page's language (`Accept-Language`), so problem titles match the page.

import { language, t } from './i18n.js';

const REFRESH_MARGIN_MS = 60_000;

let accessToken = null;
let expiresAt = 0;
let refreshing = null;
const sessionLostListeners = new Set();

/** An error answer of the API (or no answer at all), with the problem's texts in the page's language. */
export class ApiProblem extends Error {
  constructor(status, body = {}, retryAfter = null) {
    super(body.title || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || 'unknown';
    this.title = body.title || t('api.genericError');
    this.detail = body.detail || null;
    this.reasons = Array.isArray(body.reasons) ? body.reasons : [];
    this.errors = Array.isArray(body.errors) ? body.errors : [];
    this.attemptsLeft = Number.isInteger(body.attempts_left) ? body.attempts_left : null;
    this.reason = body.reason || null;
    this.retryAfter = retryAfter ?? (Number.isInteger(body.retry_after) ? body.retry_after : null);
    // The second factors that would answer a `step_up_required` or `second_factor_required`.
    this.methods = Array.isArray(body.methods) ? body.methods.filter((m) => typeof m === 'string') : [];
    // With `second_factor_required` for an account with passkeys: the assertion request.
    this.passkeyChallengeId = typeof body.passkey_challenge_id === 'string' ? body.passkey_challenge_id : null;
    this.passkey = body.passkey && typeof body.passkey === 'object' ? body.passkey : null;
  }
}


async function problemOf(response) {
  const header = Number.parseInt(response.headers.get('Retry-After') || '', 10);
  const retryAfter = Number.isFinite(header) && header > 0 ? header : null;
  let body = {};
  if ((response.headers.get('Content-Type') || '').includes('json')) {
    body = await response.json().catch(() => ({}));
  }
  if (!body.title) {
    body = { ...body, title: t('api.httpError', { status: response.status }) };
  }
  return new ApiProblem(response.status, body, retryAfter);
}

async function send(method, path, { body, token } = {}) {
  const headers = { Accept: 'application/json, application/problem+json', 'Accept-Language': language() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiProblem(0, { code: 'network_error', title: t('api.network') });
  }
  if (!response.ok) throw await problemOf(response);
  if (response.status === 204) return null;
  return response.json().catch(() => null);
}

function keep(tokens) {
  accessToken = tokens.access_token;
  expiresAt = Date.now() + (tokens.expires_in || 0) * 1000;
  return tokens;
}

function forget() {
  accessToken = null;
  expiresAt = 0;
}

/** True while this page holds an access token. */
export function signedIn() {
  return accessToken !== null;
}

/** `listener(problem)` runs when the session ends without the user logging out. */
export function onSessionLost(listener) {
  sessionLostListeners.add(listener);
}

function sessionLost(problem) {
  forget();
  for (const listener of sessionLostListeners) listener(problem);
}

async function rotate() {
  // The refresh token rotates on every use and a reused one ends the session, so only one
  // refresh may be in flight: one per page (the promise) and one per browser (a Web Lock,
  // where available, so two tabs do not race with the same cookie).
  const run = async () => {
    try {
      return await send('POST', '/v1/auth/refresh');
    } catch (problem) {
      // 409: a concurrent update of the session won; the cookie it set is the one to use.
      if (problem.status === 409) return send('POST', '/v1/auth/refresh');
      throw problem;
    }
  };
  return keep(navigator.locks ? await navigator.locks.request('hk-refresh', run) : await run());
}

/**
 * Opens a new access token with the refresh cookie. Resolves to the token response, or to
 * null when there is no live session; network trouble is thrown.
 */
export async function refresh() {
  if (!refreshing) {
    refreshing = rotate().finally(() => {
      refreshing = null;
    });
  }
  try {
    return await refreshing;
  } catch (problem) {
    if (problem.status === 401 || problem.status === 400) {
      forget();
      return null;
    }
    throw problem;
  }
}

let stepUpHandler = null;

/**
 * `handler(methods)` runs when an action needs a fresh second factor (`step_up_required`): it
 * asks the user for one and resolves to true once the step-up succeeded, false if they gave up.
 */
export function onStepUpRequired(handler) {
  stepUpHandler = handler;
}

/**
 * An authenticated call. An action that needs a fresh second factor is tried again once after
 * the user gave one (the password the action carries is sent again with it).
 */
async function authed(method, path, body) {
  try {
    return await authedOnce(method, path, body);
  } catch (problem) {
    if (problem.code !== 'step_up_required' || !stepUpHandler) throw problem;
    if (!(await stepUpHandler(problem.methods))) throw problem;
    return authedOnce(method, path, body);
  }
}

/** An authenticated call: refreshes the access token when it is (nearly) used up. */
async function authedOnce(method, path, body) {
  if (accessToken && Date.now() > expiresAt - REFRESH_MARGIN_MS) await refresh().catch(() => null);
  if (!accessToken) {
    const problem = new ApiProblem(401, { code: 'unauthenticated', title: t('api.unauthenticated') });
    sessionLost(problem);
    throw problem;
  }
  try {
    return await send(method, path, { body, token: accessToken });
  } catch (problem) {
    if (problem.status !== 401) throw problem;
    // The access token may have run out between the check and the call: one refresh, one retry.
    const renewed = await refresh().catch(() => null);
    if (!renewed) {
      sessionLost(problem);
      throw problem;
    }
    try {
      return await send(method, path, { body, token: accessToken });
    } catch (again) {
      if (again.status === 401) sessionLost(again);
      throw again;
    }
  }
}

// Login and second factor.
export const login = (username, password, rememberMe) =>
  send('POST', '/v1/auth/login', { body: { username, password, remember_me: rememberMe } });
export const resendCode = (challengeId) => send('POST', '/v1/auth/sms/resend', { body: { challenge_id: challengeId } });
// Whether the carrier reported the login SMS undelivered, and which factor answers instead.
export const smsStatus = (challengeId) => send('POST', '/v1/auth/sms/status', { body: { challenge_id: challengeId } });
export const verifySms = async (challengeId, code) =>
  keep(await send('POST', '/v1/auth/sms/verify', { body: { challenge_id: challengeId, code } }));
export const verifyTotp = async (challengeId, code) =>
  keep(await send('POST', '/v1/auth/totp/verify', { body: { challenge_id: challengeId, code } }));
export const verifyRecoveryCode = async (challengeId, code) =>
  keep(await send('POST', '/v1/auth/recovery-code/verify', { body: { challenge_id: challengeId, code } }));
export const verifyPasskey = async (challengeId, credential) =>
  keep(await send('POST', '/v1/auth/passkey/verify', { body: { challenge_id: challengeId, credential } }));

export async function logout() {
  try {
    if (accessToken) await send('POST', '/v1/auth/logout', { token: accessToken });
  } finally {
    forget();
  }
}

// Forgotten password.
export const forgotPassword = (username) => send('POST', '/v1/auth/password/forgot', { body: { username } });
/**
 * `factor` is what an account with a passkey or an authenticator app must add to the SMS code:
 * `{ totp_code }`, `{ recovery_code }` or `{ passkey_challenge_id, credential }`.
 */
export const resetPassword = (challengeId, code, newPassword, factor = {}) =>
  send('POST', '/v1/auth/password/reset', {
    body: { challenge_id: challengeId, code, new_password: newPassword, ...factor },
  });

// The account.
export const account = () => authed('GET', '/v1/account');
export const setAccountLanguage = (code) => authed('PUT', '/v1/account/language', { language: code });
export const changePassword = (oldPassword, newPassword) =>
  authed('PUT', '/v1/account/password', { old_password: oldPassword, new_password: newPassword });
export const startPhoneChange = (newMobile, password) =>
  authed('POST', '/v1/account/phone', { new_mobile: newMobile, password });
export const confirmPhoneChange = (challengeId, code) =>
  authed('POST', '/v1/account/phone/confirm', { challenge_id: challengeId, code });

// Authenticator app.
export const totpStatus = () => authed('GET', '/v1/account/totp');
export const startTotp = (password) => authed('POST', '/v1/account/totp', { password });
export const confirmTotp = (code) => authed('POST', '/v1/account/totp/confirm', { code });
export const removeTotp = (password) => authed('DELETE', '/v1/account/totp', { password });

// Step-up: a fresh second factor. `proof` is `{ totp_code }`, `{ recovery_code }` or
// `{ challenge_id, credential }` (a passkey assertion for the options' challenge).
// (Never through the step-up retry itself: a step-up that asked for a step-up would loop.)
export const stepUpOptions = () => authedOnce('POST', '/v1/account/step-up/options');
export const stepUp = (proof) => authedOnce('POST', '/v1/account/step-up', proof);

// Recovery codes: the last resort when the passkey and the app are both lost.
export const recoveryCodesStatus = () => authed('GET', '/v1/account/recovery-codes');
export const newRecoveryCodes = (password) => authed('POST', '/v1/account/recovery-codes', { password });
// Passkeys.
export const passkeys = () => authed('GET', '/v1/account/passkeys');
export const startPasskey = (password) => authed('POST', '/v1/account/passkeys', { password });
export const confirmPasskey = (registrationId, name, credential) =>
  authed('POST', '/v1/account/passkeys/confirm', { registration_id: registrationId, name, credential });
export const removePasskey = (id, password) => authed('DELETE', `/v1/account/passkeys/${encodeURIComponent(id)}`, { password });

// Security centre: sessions, history, "this wasn't me".
export const sessions = () => authed('GET', '/v1/account/sessions');
export const endSession = (id) => authed('DELETE', `/v1/account/sessions/${encodeURIComponent(id)}`);
export const endOtherSessions = () => authed('POST', '/v1/account/sessions/revoke-others');
export const securityEvents = (cursor) =>
  authed('GET', cursor ? `/v1/account/security-events?cursor=${encodeURIComponent(cursor)}` : '/v1/account/security-events');

/** Ends every session of the account, this one too: the page is signed out afterwards. */
export async function notMe(password) {
  const outcome = await authed('POST', '/v1/account/not-me', { password });
  forget();
  return outcome;
}

// Home office.
export const startBuypass = (password) => authed('POST', '/v1/homeoffice/buypass/start', { password });
