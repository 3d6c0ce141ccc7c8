// "Glemt passordet?": the username, then the code from the SMS and a new password.

import * as api from '../api.js';
import { resendControl } from '../countdown.js';
import { announce, busy, clearErrors, codeValue, field, fieldError, form, h, input, link, notice, replace, showProblem, showSummary, value } from '../dom.js';
import { t } from '../i18n.js';
import { recoveryCodeField, recoveryCodeValue } from '../stepup.js';
import { CUSTOMER_CENTRE } from '../texts.js';
import { passkeyObstacle, usePasskey } from '../webauthn.js';

// The forgot route answers only `challenge_id`; codes may be asked for again after 30 s.
const RESEND_AFTER = 30;

export function render({ onDispose }) {
  const body = h('div', {});

  function askForUsername() {
    const submit = h('button', { type: 'submit' }, t('common.sendCode'));
    const usernameForm = form(
      { class: 'stack' },
      field({ name: 'username', label: t('common.username'), autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true }),
      h('div', { class: 'actions' }, submit, link('/', t('common.backToLogin'))),
    );
    usernameForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(usernameForm);
      const username = value(usernameForm, 'username').trim();
      if (!username) {
        fieldError(usernameForm, 'username', t('common.usernameMissing')).focus();
        showSummary(usernameForm, t('common.usernameMissing'));
        return;
      }
      try {
        const started = await busy(submit, () => api.forgotPassword(username));
        askForCode(started.challenge_id);
      } catch (problem) {
        showProblem(usernameForm, problem);
      }
    });
    replace(
      body,
      h('p', {}, t('forgot.intro')),
      usernameForm,
    );
  }

  function askForCode(challengeId) {
    const submit = h('button', { type: 'submit' }, t('firstPassword.submit'));
    const resetForm = form(
      { class: 'stack' },
      field({ name: 'code', label: t('forgot.codeLabel'), inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '7', required: true }),
      field({ name: 'new', label: t('password.new'), hint: t('password.hint'), type: 'password', autocomplete: 'new-password', required: true }),
      field({ name: 'repeat', label: t('password.repeat'), type: 'password', autocomplete: 'new-password', required: true }),
      h('div', { class: 'actions' }, submit),
    );
    const resend = resendControl({
      after: RESEND_AFTER,
      resend: () => api.resendCode(challengeId),
      onSent: () => {
        clearErrors(resetForm);
        announce(t('common.newCodeSent'));
      },
      onProblem: (problem) => showProblem(resetForm, problem),
    });
    onDispose(resend.dispose);

    // An account with a passkey or an authenticator app: the SMS code alone does not reset
    // the password. The API says so only after the SMS code was right, and keeps that code
    // usable for the second submission with the factor.
    const factorPanel = h('div', { class: 'second-factor' });

    function factorForm(name, fieldElement, submitLabel, proofOf, code, newPassword) {
      const submit = h('button', { type: 'submit' }, submitLabel);
      const factor = form({ class: 'stack', 'data-factor': name }, fieldElement, h('div', { class: 'actions' }, submit));
      factor.addEventListener('submit', async (event) => {
        event.preventDefault();
        clearErrors(factor);
        const proof = proofOf(factor);
        if (proof === null) {
          showSummary(factor, t('password.notChanged'));
          factor.querySelector('input').focus();
          return;
        }
        try {
          await busy(submit, () => api.resetPassword(challengeId, code, newPassword, proof));
          done();
        } catch (problem) {
          showProblem(factor, problem);
          factor.querySelector('input').select();
        }
      });
      return factor;
    }

    function askForFactor(problem, code, newPassword) {
      const parts = [];
      if (problem.methods.includes('passkey') && problem.passkey && passkeyObstacle() === null) {
        const passkeyButton = h('button', { type: 'button' }, t('stepUp.usePasskey'));
        const passkeyForm = form({ class: 'stack', 'data-factor': 'passkey' }, h('div', { class: 'actions' }, passkeyButton));
        passkeyButton.addEventListener('click', async () => {
          clearErrors(passkeyForm);
          try {
            await busy(passkeyButton, async () => {
              const credential = await usePasskey(problem.passkey);
              await api.resetPassword(challengeId, code, newPassword, {
                passkey_challenge_id: problem.passkeyChallengeId,
                credential,
              });
            });
            done();
          } catch (failure) {
            if (failure instanceof api.ApiProblem) showProblem(passkeyForm, failure);
            else showSummary(passkeyForm, t('stepUp.passkeyFailed'));
          }
        });
        parts.push(passkeyForm);
      }
      if (problem.methods.includes('totp')) {
        parts.push(
          factorForm(
            'totp',
            field({ name: 'code', label: t('stepUp.totpLabel'), inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '7', required: true }),
            t('firstPassword.submit'),
            (factor) => {
              const totp = codeValue(factor);
              return totp === null ? null : { totp_code: totp };
            },
            code,
            newPassword,
          ),
        );
      }
      if (problem.methods.includes('recovery_code')) {
        parts.push(
          factorForm(
            'recovery',
            recoveryCodeField(),
            t('recovery.use'),
            (factor) => {
              const recovery = recoveryCodeValue(factor);
              return recovery === null ? null : { recovery_code: recovery };
            },
            code,
            newPassword,
          ),
        );
      }
      resetForm.hidden = true;
      replace(factorPanel, notice('info', h('p', {}, t('forgot.factorNeeded'))), ...parts);
      const first = factorPanel.querySelector('form button, form input');
      if (first) first.focus();
    }

    resetForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(resetForm);
      const code = codeValue(resetForm);
      const newPassword = value(resetForm, 'new');
      const wrong = [];
      if (code === null) wrong.push(input(resetForm, 'code'));
      if (!newPassword) wrong.push(fieldError(resetForm, 'new', t('password.newMissing')));
      else if (newPassword !== value(resetForm, 'repeat')) wrong.push(fieldError(resetForm, 'repeat', t('password.mismatch')));
      if (wrong.length) {
        showSummary(resetForm, t('password.notChanged'));
        wrong[0].focus();
        return;
      }
      try {
        await busy(submit, () => api.resetPassword(challengeId, code, newPassword));
        done();
      } catch (problem) {
        if (problem.code === 'second_factor_required') {
          askForFactor(problem, code, newPassword);
          return;
        }
        const extra = problem.status === 410 ? [h('p', {}, link('/glemt-passord', t('forgot.newCode')))] : [];
        showProblem(resetForm, problem, { extra });
        if (problem.code === 'weak_password') fieldError(resetForm, 'new', problem.detail || problem.title).focus();
        if (problem.code === 'invalid_code') fieldError(resetForm, 'code', problem.title).focus();
      }
    });

    replace(
      body,
      notice(
        'info',
        h('p', {}, t('forgot.sentIfExists')),
      ),
      resetForm,
      factorPanel,
      resend.element,
      h('p', { class: 'hint' }, t('common.noCode', { phone: CUSTOMER_CENTRE })),
      h('p', {}, link('/', t('common.backToLogin'))),
    );
    input(resetForm, 'code').focus();
  }

  function done() {
    replace(
      body,
      notice(
        'success',
        h('p', {}, t('forgot.done')),
        h('p', {}, t('forgot.allEnded')),
      ),
      h('p', {}, link('/', t('common.toLogin'), { class: 'button' })),
    );
    body.querySelector('a').focus();
  }

  askForUsername();
  return h('section', { class: 'card narrow' }, h('h1', {}, t('forgot.heading')), body);
}
