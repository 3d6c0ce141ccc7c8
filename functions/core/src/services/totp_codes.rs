//! Authenticator-app codes (RFC 6238) without I/O, time passed in: the generator's
//! parameters, which time step a code belongs to within the drift window, the replay guard's
//! decision, and what a code does to an enrolment waiting for confirmation. `totp.rs` loads,
//! writes and audits around these.

use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder, Totp};

use crate::clock::UnixTime;
use crate::domain::{OneTimeCode, Username};
use crate::error::ServiceError;
use crate::security::ct_eq;
use crate::security::secretbox::Sealed;

/// The issuer authenticator apps show next to the account name.
pub const ISSUER: &str = "Norsk Helsenett Hjemmekontor";
pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u8 = 6;
/// Steps of clock drift accepted either way.
pub const SKEW_STEPS: i64 = 1;
/// 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// The authenticator-app state of one account.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TotpRecord {
    /// The confirmed authenticator, usable at login.
    #[serde(default)]
    pub active: Option<ActiveTotp>,
    /// An enrolment waiting for its first code; replaces `active` when confirmed.
    #[serde(default)]
    pub pending: Option<PendingTotp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ActiveTotp {
    pub secret: Sealed,
    pub enabled_at: UnixTime,
    /// The newest time step a code was accepted for; that step and older ones are refused.
    pub last_used_step: i64,
    /// What the app counts from for "this wasn't me" (`services::step_up`) when it was enabled
    /// while the account had a settled factor (a replaced app): that factor's date. `None`:
    /// `enabled_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts_since: Option<UnixTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingTotp {
    pub secret: Sealed,
    pub started_at: UnixTime,
    pub expires_at: UnixTime,
    pub failed_attempts: u32,
}

impl TotpRecord {
    /// The record after `verdict` on the code that confirms `pending` at `now`: the pending
    /// secret becomes the active one (its confirming step used up, so the code cannot also log
    /// in), or one more failed attempt, the enrolment ending at `max`.
    pub fn confirmed(&self, pending: &PendingTotp, verdict: CodeMatch, now: UnixTime, max: u32) -> (Self, Confirmed) {
        let mut next = self.clone();
        if let CodeMatch::Fresh(step) = verdict {
            next.active = Some(ActiveTotp {
                secret: pending.secret.clone(),
                enabled_at: now,
                last_used_step: step,
                counts_since: None,
            });
            next.pending = None;
            let replaced = self.active.is_some();
            return (next, Confirmed::Enabled { replaced });
        }
        let failed = pending.failed_attempts + 1;
        next.pending = (failed < max).then(|| PendingTotp {
            failed_attempts: failed,
            ..pending.clone()
        });
        (next, Confirmed::Wrong(max.saturating_sub(failed)))
    }
}

/// What a confirming code did to an enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// The app is active now; `replaced` an earlier one.
    Enabled { replaced: bool },
    /// Wrong (or a replay); attempts left on the enrolment.
    Wrong(u32),
}

/// How a code relates to an authenticator's time steps around now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeMatch {
    /// Right, for this step, newer than any used before.
    Fresh(i64),
    /// Right, but for a step whose code was already used (a replay).
    Reused,
    Wrong,
}

/// Builds the RFC 6238 generator for a secret.
pub fn generator(secret: Vec<u8>, username: &Username) -> Result<Totp, ServiceError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(SKEW_STEPS as u16)
        .with_step_duration(STEP_SECONDS as u64)
        .with_secret(secret)
        .with_account_name(username.as_str())
        .with_issuer(Some(ISSUER))
        .build()
        // The error may quote the account name but never the secret; keep it short anyway.
        .map_err(|_| ServiceError::Internal("authenticator parameters rejected".into()))
}

/// Checks `code` against every step within the drift window (all of them, whatever matches
/// first), comparing in constant time.
pub fn match_code(totp: &Totp, code: &OneTimeCode, now: UnixTime, last_used_step: Option<i64>) -> CodeMatch {
    let current = now.div_euclid(STEP_SECONDS);
    let mut fresh = None;
    let mut reused = false;
    for step in (current - SKEW_STEPS)..=(current + SKEW_STEPS) {
        let Ok(at) = u64::try_from(step * STEP_SECONDS) else {
            continue;
        };
        let expected = totp.generate(at).to_string();
        if ct_eq(&expected, code.expose()) {
            if last_used_step.is_some_and(|last| step <= last) {
                reused = true;
            } else {
                fresh = Some(step);
            }
        }
    }
    match (fresh, reused) {
        (Some(step), _) => CodeMatch::Fresh(step),
        (None, true) => CodeMatch::Reused,
        (None, false) => CodeMatch::Wrong,
    }
}

/// Associated data of a sealed secret: binds it to its account.
pub fn associated_data(username: &Username) -> Vec<u8> {
    format!("hjemmekontor-totp-v1:{username}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totp() -> Totp {
        generator(vec![7u8; SECRET_BYTES], &Username::parse("kari").unwrap()).unwrap()
    }

    fn code_at(totp: &Totp, at: i64) -> OneTimeCode {
        OneTimeCode::parse(&totp.generate(at as u64).to_string()).unwrap()
    }

    /// RFC 6238 appendix B, SHA-1, secret "12345678901234567890": (T, 8-digit TOTP). The
    /// portal's 6-digit code is the last six digits.
    const RFC_6238_SHA1: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    fn rfc_generator() -> Totp {
        generator(b"12345678901234567890".to_vec(), &Username::parse("kari").unwrap()).unwrap()
    }

    #[test]
    fn rfc_6238_sha1_test_vectors() {
        let t = rfc_generator();
        for (at, eight_digits) in RFC_6238_SHA1 {
            assert_eq!(t.generate(at).to_string(), eight_digits[2..], "T = {at}");
        }
    }

    #[test]
    fn rfc_vectors_match_their_own_step_and_its_neighbours_only() {
        let t = rfc_generator();
        for (at, eight_digits) in RFC_6238_SHA1 {
            let code = OneTimeCode::parse(&eight_digits[2..]).unwrap();
            let now = at as i64;
            let step = now.div_euclid(STEP_SECONDS);
            // (when it is entered, the replay guard's last used step, the verdict)
            let vectors = [
                (now, None, CodeMatch::Fresh(step)),
                (now + STEP_SECONDS, None, CodeMatch::Fresh(step)),
                (now - STEP_SECONDS, None, CodeMatch::Fresh(step)),
                (now + 2 * STEP_SECONDS, None, CodeMatch::Wrong),
                (now, Some(step), CodeMatch::Reused),
                (now, Some(step + 1), CodeMatch::Reused),
                (now, Some(step - 1), CodeMatch::Fresh(step)),
            ];
            for (entered, last_used, verdict) in vectors {
                assert_eq!(
                    match_code(&t, &code, entered, last_used),
                    verdict,
                    "T = {at}, entered {entered}, last used {last_used:?}"
                );
            }
        }
    }

    fn pending(failed_attempts: u32) -> PendingTotp {
        PendingTotp {
            secret: Sealed {
                v: 1,
                nonce: "n".into(),
                ct: "c".into(),
            },
            started_at: 0,
            expires_at: 600,
            failed_attempts,
        }
    }

    #[test]
    fn a_right_code_activates_the_enrolment_and_uses_up_its_step_and_wrong_ones_count_to_the_end() {
        let record = TotpRecord {
            active: None,
            pending: Some(pending(0)),
        };
        let (next, outcome) = record.confirmed(&pending(0), CodeMatch::Fresh(42), 100, 5);
        assert_eq!(outcome, Confirmed::Enabled { replaced: false });
        assert_eq!(
            next.active.as_ref().map(|a| (a.enabled_at, a.last_used_step)),
            Some((100, 42))
        );
        assert!(next.pending.is_none());
        let (again, outcome) = next.confirmed(&pending(0), CodeMatch::Fresh(43), 130, 5);
        assert_eq!(outcome, Confirmed::Enabled { replaced: true });
        assert_eq!(again.active.map(|a| a.last_used_step), Some(43));

        for (failed_before, verdict, left, still_pending) in [
            (0, CodeMatch::Wrong, 4, true),
            (3, CodeMatch::Reused, 1, true),
            (4, CodeMatch::Wrong, 0, false),
        ] {
            let (next, outcome) = record.confirmed(&pending(failed_before), verdict, 100, 5);
            assert_eq!(outcome, Confirmed::Wrong(left));
            assert_eq!(next.pending.is_some(), still_pending, "after {failed_before} failures");
            assert!(next.active.is_none());
        }
    }

    #[test]
    fn accepts_one_step_of_drift_either_way_and_no_more() {
        let t = totp();
        let now = 1_767_225_615;
        for (offset, expected) in [(-60, false), (-30, true), (0, true), (30, true), (60, false)] {
            let verdict = match_code(&t, &code_at(&t, now + offset), now, None);
            assert_eq!(matches!(verdict, CodeMatch::Fresh(_)), expected, "offset {offset}");
        }
    }

    #[test]
    fn steps_at_or_before_the_last_used_one_are_reused_not_fresh() {
        let t = totp();
        let now = 1_767_225_615;
        let step = now / STEP_SECONDS;
        assert_eq!(match_code(&t, &code_at(&t, now), now, Some(step)), CodeMatch::Reused);
        assert_eq!(
            match_code(&t, &code_at(&t, now - 30), now, Some(step)),
            CodeMatch::Reused
        );
        assert_eq!(
            match_code(&t, &code_at(&t, now + 30), now, Some(step)),
            CodeMatch::Fresh(step + 1)
        );
        let wrong = OneTimeCode::parse(if code_at(&t, now).expose() == "000000" {
            "000001"
        } else {
            "000000"
        })
        .unwrap();
        assert_eq!(match_code(&t, &wrong, now, None), CodeMatch::Wrong);
    }

    #[test]
    fn otpauth_uri_names_the_issuer_and_account_with_default_parameters() {
        let uri = totp().to_url().unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Norsk%20Helsenett%20Hjemmekontor:kari?secret="),
            "{uri}"
        );
        assert!(uri.contains("issuer=Norsk%20Helsenett%20Hjemmekontor"), "{uri}");
        // SHA-1, 6 digits and 30 s are the defaults and therefore implied.
        assert!(
            !uri.contains("algorithm=") && !uri.contains("digits=") && !uri.contains("period="),
            "{uri}"
        );
    }
}
