// Small DOM helpers: elements built with text only (never HTML strings), labelled form
// fields, and showing an API problem in a form in the page's language.

import { t } from './i18n.js';
import { fieldReason, passwordReason, waitText } from './texts.js';

/**
 * `h('p', { class: 'x', onclick: fn }, 'text', child)`: attributes are set as attributes
 * (booleans toggle them, `on…` functions become listeners); children are nodes or text.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `element`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let fieldCounter = 0;

/**
 * A labelled input with an optional hint and a place for its error:
 * `field({ name: 'username', label: t('common.username'), autocomplete: 'username' })`.
 */
export function field({ name, label, type = 'text', hint, ...attributes }) {
  fieldCounter += 1;
  const id = `f${fieldCounter}-${name}`;
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const input = h('input', {
    id,
    name,
    type,
    'aria-describedby': [hintId, errorId].filter(Boolean).join(' '),
    ...attributes,
  });
  return h(
    'div',
    { class: 'field', 'data-field': name },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: errorId, hidden: true }),
    input,
  );
}

export function checkbox({ name, label }) {
  fieldCounter += 1;
  const id = `f${fieldCounter}-${name}`;
  return h('div', { class: 'checkbox' }, h('input', { id, name, type: 'checkbox' }), h('label', { for: id }, label));
}

/** A form with an error summary at its top that screen readers announce. */
export function form(attributes, ...children) {
  const summary = h('div', { class: 'error-summary', role: 'alert', 'aria-live': 'assertive', hidden: true });
  // `method="post"`: should a script ever fail to take the submit, the browser must not put
  // the fields (passwords) into the address.
  return h('form', { novalidate: true, method: 'post', ...attributes }, summary, ...children);
}

export function input(formElement, name) {
  return formElement.elements.namedItem(name);
}

export function value(formElement, name) {
  const element = input(formElement, name);
  return element ? element.value : '';
}

export function clearErrors(formElement) {
  const summary = formElement.querySelector('.error-summary');
  if (summary) replace(summary).hidden = true;
  for (const error of formElement.querySelectorAll('.field-error')) replace(error).hidden = true;
  for (const element of formElement.querySelectorAll('[aria-invalid]')) element.removeAttribute('aria-invalid');
}

/** Marks a field as wrong with `message`; returns its input. */
export function fieldError(formElement, name, message) {
  const wrapper = formElement.querySelector(`[data-field="${name}"]`);
  if (!wrapper) return null;
  const error = wrapper.querySelector('.field-error');
  replace(error, message).hidden = false;
  const element = wrapper.querySelector('input');
  element.setAttribute('aria-invalid', 'true');
  return element;
}

/**
 * The six-digit code typed into the form's `code` field (spaces forgiven, as the API forgives
 * them), or null after marking the field as wrong.
 */
export function codeValue(formElement) {
  const code = value(formElement, 'code').replace(/\s+/g, '');
  if (/^\d{6}$/.test(code)) return code;
  fieldError(formElement, 'code', t('field.sixDigits'));
  return null;
}

/**
 * Shows an error in the form's summary: the problem's `title` (in the page's language), then its detail
 * (weak-password reasons, attempts left, how long to wait), and marks the fields it names.
 * `fields` maps the API's field names to the form's (`{ new_mobile: 'mobile' }`).
 */
export function showProblem(formElement, problem, { fields = {}, extra = [] } = {}) {
  clearErrors(formElement);
  const lines = [];
  if (problem.detail) {
    lines.push(problem.detail);
  } else if (problem.reasons.length) {
    lines.push(problem.reasons.map(passwordReason).join(' '));
  }
  if (problem.attemptsLeft !== null && problem.attemptsLeft !== undefined) {
    lines.push(problem.attemptsLeft === 1 ? t('form.attemptsLeftOne') : t('form.attemptsLeft', { n: problem.attemptsLeft }));
  }
  if (problem.status === 429 && problem.retryAfter) lines.push(waitText(problem.retryAfter));
  let first = null;
  for (const { field: apiField, reason } of problem.errors) {
    const name = fields[apiField] || apiField;
    const message = fieldReason(apiField, reason);
    const element = fieldError(formElement, name, message);
    first = first || element;
    if (!element) lines.push(message);
  }
  showSummary(formElement, problem.title, [...lines, ...extra]);
  if (first) first.focus();
}

/** Shows `title` and `lines` in the form's error summary. */
export function showSummary(formElement, title, lines = []) {
  const summary = formElement.querySelector('.error-summary');
  replace(summary, h('p', { class: 'error-title' }, title), ...lines.map((line) => (line instanceof Node ? line : h('p', {}, line))));
  summary.hidden = false;
}

/** Runs `work` with `button` disabled (and marked busy); returns its result. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** A message box: `kind` is 'success', 'info' or 'error'. Errors are alerts, the rest status. */
export function notice(kind, ...children) {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);
}

/** Says `text` to screen readers (the page's polite live region). */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/** A link handled by the client-side router. */
export function link(href, text, attributes = {}) {
  return h('a', { href, 'data-link': true, ...attributes }, text);
}
