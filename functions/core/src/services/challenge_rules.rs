//! A challenge's rules without I/O, time passed in: how one is opened, whether a resend may go
//! out and what it changes, and what one code attempt does to it. The App methods in
//! `challenges.rs`, `totp.rs` and `recovery.rs` load, write and send around these.

use std::time::Duration;

use crate::clock::{after, secs, UnixTime};
use crate::domain::{ChallengeId, MobileNumber, Username};
use crate::error::ServiceError;
use crate::i18n::Lang;
use crate::store::records::{Challenge, ChallengePurpose};

/// How a new challenge can be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A code went (or goes) out by SMS; the HMAC of that code.
    Sms { code_hash: String },
    /// A login of a user with an authenticator app: no SMS until the user asks for one.
    App,
    /// Forgot-password for a name without an account: nothing can ever answer it.
    Decoy,
}

/// What a caller knows when it opens a challenge.
#[derive(Debug, Clone)]
pub struct Opening {
    pub purpose: ChallengePurpose,
    pub username: Username,
    pub destination: MobileNumber,
    pub answer: Answer,
    /// Login challenges: the account's password version when the password was checked.
    pub password_version: Option<u64>,
    pub language: Lang,
}

/// What a resend of `c` at `now` is allowed to do.
#[derive(Debug, Clone, Copy)]
pub struct ResendRules {
    pub interval: Duration,
    pub max_resends: u32,
    pub lifetime: Duration,
}

impl Challenge {
    /// A fresh challenge `id`, opened at `now`, whose code lives for `lifetime`.
    pub fn new(id: ChallengeId, opening: Opening, now: UnixTime, lifetime: Duration) -> Self {
        let (code_hash, totp) = match opening.answer {
            Answer::Sms { code_hash } => (Some(code_hash), false),
            Answer::App => (None, true),
            Answer::Decoy => (None, false),
        };
        Self {
            id,
            purpose: opening.purpose,
            username: opening.username,
            destination: opening.destination,
            code_hash,
            code_expires_at: after(now, lifetime),
            last_sent_at: now,
            resends: 0,
            failed_attempts: 0,
            consumed: false,
            totp,
            password_version: opening.password_version,
            language: opening.language,
            sms_undelivered: false,
        }
    }

    /// A challenge that was opened for forgot-password of an unknown name (no code, no app).
    pub fn is_decoy(&self) -> bool {
        self.code_hash.is_none() && !self.totp
    }

    /// Whether it can still be answered: not used, attempts left.
    pub fn is_live(&self, attempts_max: u32) -> bool {
        !self.consumed && self.failed_attempts < attempts_max
    }

    /// The challenge after a resend at `now` with a new code `code_hash`, or why not yet. The
    /// first SMS of a login answered so far by app ("send me an SMS instead") goes out at once
    /// and is no resend; a decoy stays a decoy (it keeps no code).
    pub fn resent(&self, now: UnixTime, rules: ResendRules, code_hash: &str) -> Result<Self, ServiceError> {
        let first_sms = self.totp && self.code_hash.is_none();
        let since = now - self.last_sent_at;
        let interval = secs(rules.interval);
        if since < interval && !first_sms {
            return Err(ServiceError::ResendTooSoon {
                retry_after: (interval - since) as u64,
            });
        }
        if self.resends >= rules.max_resends && !first_sms {
            return Err(ServiceError::ResendLimit {
                retry_after: (self.code_expires_at - now).max(1) as u64,
            });
        }
        let mut next = self.clone();
        if !self.is_decoy() {
            next.code_hash = Some(code_hash.to_owned());
        }
        next.code_expires_at = after(now, rules.lifetime);
        next.last_sent_at = now;
        next.sms_undelivered = false;
        next.resends += u32::from(!first_sms);
        Ok(next)
    }

    /// The challenge after one answer: consumed when `right`, else one more failed attempt
    /// and `Err(attempts left)`.
    pub fn answered(&self, right: bool, attempts_max: u32) -> (Self, Result<(), u32>) {
        let mut next = self.clone();
        if right {
            next.consumed = true;
            return (next, Ok(()));
        }
        next.failed_attempts += 1;
        let left = attempts_max.saturating_sub(next.failed_attempts);
        (next, Err(left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixTime = 1_700_000_000;
    const FIVE_MINUTES: Duration = Duration::from_secs(300);
    const RULES: ResendRules = ResendRules {
        interval: Duration::from_secs(30),
        max_resends: 3,
        lifetime: FIVE_MINUTES,
    };

    fn opening(answer: Answer) -> Opening {
        Opening {
            purpose: ChallengePurpose::Login { remember_me: false },
            username: Username::parse("kari").unwrap(),
            destination: MobileNumber::parse("+4791234567").unwrap(),
            answer,
            password_version: Some(3),
            language: Lang::default(),
        }
    }

    fn id() -> ChallengeId {
        ChallengeId::generate()
    }

    #[test]
    fn each_answer_kind_opens_the_challenge_it_names() {
        // (answer, code_hash, totp, decoy)
        let vectors = [
            (Answer::Sms { code_hash: "h1".into() }, Some("h1"), false, false),
            (Answer::App, None, true, false),
            (Answer::Decoy, None, false, true),
        ];
        for (answer, hash, totp, decoy) in vectors {
            let c = Challenge::new(id(), opening(answer.clone()), T0, FIVE_MINUTES);
            assert_eq!(c.code_hash.as_deref(), hash, "{answer:?}");
            assert_eq!(c.totp, totp, "{answer:?}");
            assert_eq!(c.is_decoy(), decoy, "{answer:?}");
            assert_eq!((c.code_expires_at, c.last_sent_at), (T0 + 300, T0));
            assert_eq!((c.resends, c.failed_attempts, c.consumed), (0, 0, false));
            assert_eq!(c.password_version, Some(3));
        }
    }

    #[test]
    fn resends_wait_the_interval_and_stop_after_the_maximum() {
        let mut c = Challenge::new(id(), opening(Answer::Sms { code_hash: "h0".into() }), T0, FIVE_MINUTES);
        // (seconds after the last SMS, expected retry_after if refused)
        assert!(matches!(
            c.resent(T0 + 29, RULES, "h1"),
            Err(ServiceError::ResendTooSoon { retry_after: 1 })
        ));
        for n in 1..=3 {
            let at = c.last_sent_at + 30;
            c = c.resent(at, RULES, &format!("h{n}")).unwrap();
            assert_eq!((c.resends, c.code_expires_at), (n, at + 300));
            assert_eq!(c.code_hash.as_deref(), Some(format!("h{n}").as_str()));
        }
        let at = c.last_sent_at + 31;
        assert!(matches!(
            c.resent(at, RULES, "h4"),
            Err(ServiceError::ResendLimit { retry_after: 269 })
        ));
    }

    #[test]
    fn an_apps_first_sms_is_immediate_and_no_resend_and_a_decoy_gets_no_code() {
        let app = Challenge::new(id(), opening(Answer::App), T0, FIVE_MINUTES);
        let first = app.resent(T0, RULES, "h1").unwrap();
        assert_eq!((first.resends, first.code_hash.as_deref()), (0, Some("h1")));
        assert!(first.resent(T0 + 1, RULES, "h2").is_err(), "the second SMS is a resend");

        let decoy = Challenge::new(id(), opening(Answer::Decoy), T0, FIVE_MINUTES);
        let resent = decoy.resent(T0 + 30, RULES, "h1").unwrap();
        assert_eq!((resent.code_hash, resent.resends), (None, 1));
    }

    #[test]
    fn answers_consume_or_count_down_and_end_the_challenge_at_the_maximum() {
        let c = Challenge::new(id(), opening(Answer::Sms { code_hash: "h".into() }), T0, FIVE_MINUTES);
        let (right, outcome) = c.answered(true, 5);
        assert_eq!((right.consumed, outcome), (true, Ok(())));
        assert!(!right.is_live(5));
        let mut c = c;
        for left in (0..5).rev() {
            let (next, outcome) = c.answered(false, 5);
            assert_eq!(outcome, Err(left));
            c = next;
        }
        assert!(!c.is_live(5));
    }
}
