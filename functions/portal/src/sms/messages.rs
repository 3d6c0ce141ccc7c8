//! The Norwegian SMS texts. Each fits one GSM-7 message (160 characters); a test checks it.

use crate::domain::SmsCode;

pub fn login_code(code: &SmsCode) -> String {
    format!(
        "Din engangskode er {}. Koden gjelder i 5 minutter. Del den aldri med andre. Hilsen Norsk Helsenett",
        code.expose()
    )
}

pub fn reset_code(code: &SmsCode) -> String {
    format!(
        "Koden for å lage nytt passord er {}. Den gjelder i 5 minutter. Ba du ikke om dette, kan du se bort fra meldingen.",
        code.expose()
    )
}

pub fn phone_change_code(code: &SmsCode) -> String {
    format!(
        "Koden for å bekrefte nytt mobilnummer hos Norsk Helsenett er {}. Den gjelder i 5 minutter.",
        code.expose()
    )
}

pub fn initial_password(username: &str, password: &str) -> String {
    format!("Norsk Helsenett kundeportal: brukernavn {username}, passord {password}. Du må bytte passord første gang du logger inn.")
}

pub const PASSWORD_CHANGED: &str =
    "Passordet ditt i Norsk Helsenett kundeportal er endret. Var det ikke deg, ring kundesenteret på 24 20 00 00.";

pub const PHONE_CHANGED: &str =
    "Mobilnummeret på kontoen din i Norsk Helsenett kundeportal er endret. Var det ikke deg, ring kundesenteret på 24 20 00 00.";

pub const HOME_OFFICE_READY: &str =
    "Hjemmekontor er klart til bruk. Buypasskortet ditt er registrert og aktivert. Hilsen Norsk Helsenett";

/// Sent when a Buypass registration replaced the account's earlier card. A plain hyphen, not
/// the en dash of the wording we were given: an en dash is outside GSM-7, and one such
/// character turns the whole message into UCS-2 (70 characters a part, so two parts).
pub const BUYPASS_CARD_REPLACED: &str = "Buypasskortet ditt er byttet - var det ikke deg, ring kundesenteret.";

pub const TOTP_ENABLED: &str =
    "En autentiseringsapp er lagt til for innlogging i Norsk Helsenett kundeportal. Var det ikke deg, ring kundesenteret på 24 20 00 00.";

pub const TOTP_REMOVED: &str =
    "Autentiseringsappen er fjernet fra kontoen din i Norsk Helsenett kundeportal. Var det ikke deg, ring kundesenteret på 24 20 00 00.";

/// GSM 03.38 basic character set plus the extension table (which costs two septets).
fn gsm7_septets(text: &str) -> Option<usize> {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENDED: &str = "^{}\\[~]|€";
    text.chars().try_fold(0usize, |n, c| {
        if BASIC.contains(c) {
            Some(n + 1)
        } else if EXTENDED.contains(c) {
            Some(n + 2)
        } else {
            None
        }
    })
}

/// True when `text` is one single-part GSM-7 SMS.
pub fn fits_one_sms(text: &str) -> bool {
    gsm7_septets(text).is_some_and(|n| n <= 160)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_fits_one_gsm7_sms() {
        let code = SmsCode::parse("123456").unwrap();
        let longest_user = "a".repeat(20);
        for text in [
            login_code(&code),
            reset_code(&code),
            phone_change_code(&code),
            initial_password(&longest_user, "Abcd-Efgh-Ijkl-Mnop"),
            PASSWORD_CHANGED.to_owned(),
            PHONE_CHANGED.to_owned(),
            HOME_OFFICE_READY.to_owned(),
            BUYPASS_CARD_REPLACED.to_owned(),
        ] {
            assert!(
                fits_one_sms(&text),
                "does not fit one GSM-7 SMS ({} chars): {text}",
                text.chars().count()
            );
        }
    }

    #[test]
    fn gsm7_rejects_characters_outside_the_alphabet() {
        assert!(!fits_one_sms("emoji 🙂"));
        assert!(!fits_one_sms(&"a".repeat(161)));
        assert!(fits_one_sms(&"æøå".repeat(53)));
    }

    #[test]
    fn authenticator_app_notices_fit_one_gsm7_sms() {
        for text in [TOTP_ENABLED, TOTP_REMOVED] {
            assert!(fits_one_sms(text), "{} chars: {text}", text.chars().count());
        }
    }
}
