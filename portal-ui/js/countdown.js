// "Send ny kode" (a new code) with a visible countdown: the button stays disabled until the API allows a
// new code (`resend_after`, or `Retry-After` of a 429).

import { busy, h, replace } from './dom.js';
import { t } from './i18n.js';

function waitingText(left) {
  if (left >= 120) return t('resend.waitMinutes', { n: Math.ceil(left / 60) });
  return left === 1 ? t('resend.waitOne') : t('resend.waitSeconds', { n: left });
}

/**
 * `resend()` asks for a new code and resolves to `{ resend_after }`; `onProblem(problem)`
 * shows a failure. Returns `{ element, restart(seconds), dispose() }`.
 */
export function resendControl({ after = 30, resend, onSent, onProblem, label }) {
  const button = h('button', { type: 'button', class: 'button-secondary' }, label || t('resend.button'));
  const status = h('p', { class: 'countdown' });
  let timer = null;
  let until = 0;

  function tick() {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left > 0) {
      button.disabled = true;
      replace(status, waitingText(left));
    } else {
      clearInterval(timer);
      timer = null;
      button.disabled = false;
      replace(status);
    }
  }

  function restart(seconds) {
    clearInterval(timer);
    until = Date.now() + Math.max(0, seconds || 0) * 1000;
    if (seconds > 0) timer = setInterval(tick, 250);
    tick();
  }

  button.addEventListener('click', async () => {
    try {
      const sent = await busy(button, resend);
      restart(sent && Number.isInteger(sent.resend_after) ? sent.resend_after : 30);
      if (onSent) onSent(sent);
    } catch (problem) {
      if (problem.retryAfter) restart(problem.retryAfter);
      onProblem(problem);
    }
  });

  restart(after);
  return {
    element: h('div', { class: 'resend' }, button, status),
    restart,
    dispose: () => clearInterval(timer),
  };
}
