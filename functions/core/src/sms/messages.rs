//! The SMS texts, in the account's language (bokmål, nynorsk, English). Each is one GSM-7
//! message (160 septets, æøå included); a test states the segment count of every message in
//! every language.

use super::webotp::WebOtpHost;
use crate::domain::OneTimeCode;
use crate::i18n::Lang;
use crate::store::records::ChallengePurpose;

/// The SMS carrying a challenge's code, ending with the WebOTP line when the portal's host is
/// known.
pub fn code_message(purpose: &ChallengePurpose, lang: Lang, code: &OneTimeCode, host: Option<&WebOtpHost>) -> String {
    let text = match purpose {
        ChallengePurpose::Login { .. } => login_code(lang, code),
        ChallengePurpose::PasswordReset => reset_code(lang, code),
        ChallengePurpose::PhoneChange { .. } => phone_change_code(lang, code),
    };
    match host {
        Some(host) => host.append(&text, code),
        None => text,
    }
}

pub fn login_code(lang: Lang, code: &OneTimeCode) -> String {
    let code = code.expose();
    match lang {
        Lang::Nb => format!(
            "Din engangskode er {code}. Koden gjelder i 5 minutter. Del den aldri med andre. Hilsen Norsk Helsenett"
        ),
        Lang::Nn => format!(
            "Eingongskoden din er {code}. Koden gjeld i 5 minutt. Del aldri koden med andre. Helsing Norsk Helsenett"
        ),
        Lang::En => format!(
            "Your one-time code is {code}. It is valid for 5 minutes. Never share it with anyone. Norsk Helsenett"
        ),
    }
}

pub fn reset_code(lang: Lang, code: &OneTimeCode) -> String {
    let code = code.expose();
    match lang {
        Lang::Nb => format!(
            "Koden for nytt passord er {code}. Den gjelder i 5 minutter. Ba du ikke om den, kan du se bort fra meldingen."
        ),
        Lang::Nn => format!(
            "Koden for nytt passord er {code}. Koden gjeld i 5 minutt. Bad du ikkje om han, kan du sjå bort frå meldinga."
        ),
        Lang::En => format!(
            "Your code for a new password is {code}. It is valid for 5 minutes. Did not ask for it? Ignore this message."
        ),
    }
}

pub fn phone_change_code(lang: Lang, code: &OneTimeCode) -> String {
    let code = code.expose();
    match lang {
        Lang::Nb => {
            format!("Koden for å bekrefte nytt mobilnummer hos Norsk Helsenett er {code}. Den gjelder i 5 minutter.")
        }
        Lang::Nn => {
            format!("Koden for å stadfeste nytt mobilnummer hos Norsk Helsenett er {code}. Koden gjeld i 5 minutt.")
        }
        Lang::En => {
            format!("Your code to confirm a new mobile number at Norsk Helsenett is {code}. It is valid for 5 minutes.")
        }
    }
}

/// Short enough to stay one segment with the longest username (64) and a generated password.
pub fn initial_password(lang: Lang, username: &str, password: &str) -> String {
    match lang {
        Lang::Nb => {
            format!("Kundeportalen: brukernavn {username}, passord {password}. Bytt passord ved første innlogging.")
        }
        Lang::Nn => {
            format!("Kundeportalen: brukarnamn {username}, passord {password}. Byt passord ved første innlogging.")
        }
        Lang::En => format!("Customer portal: username {username}, password {password}. Change it at first login."),
    }
}

pub fn password_changed(lang: Lang) -> &'static str {
    match lang {
        Lang::Nb => "Passordet ditt i Norsk Helsenett kundeportal er endret. Var det ikke deg, ring kundesenteret på 24 20 00 00.",
        Lang::Nn => "Passordet ditt i Norsk Helsenett kundeportal er endra. Var det ikkje deg, ring kundesenteret på 24 20 00 00.",
        Lang::En => "Your password for the Norsk Helsenett customer portal was changed. If this was not you, call the customer centre on 24 20 00 00.",
    }
}

pub fn phone_changed(lang: Lang) -> &'static str {
    match lang {
        Lang::Nb => "Mobilnummeret på kontoen din i Norsk Helsenett kundeportal er endret. Var det ikke deg, ring kundesenteret på 24 20 00 00.",
        Lang::Nn => "Mobilnummeret på kontoen din i Norsk Helsenett kundeportal er endra. Var det ikkje deg, ring kundesenteret på 24 20 00 00.",
        Lang::En => "The mobile number of your Norsk Helsenett customer portal account was changed. Not you? Call the customer centre on 24 20 00 00.",
    }
}

pub fn home_office_ready(lang: Lang) -> &'static str {
    match lang {
        Lang::Nb => {
            "Hjemmekontor er klart til bruk. Buypasskortet ditt er registrert og aktivert. Hilsen Norsk Helsenett"
        }
        Lang::Nn => {
            "Heimekontor er klart til bruk. Buypasskortet ditt er registrert og aktivert. Helsing Norsk Helsenett"
        }
        Lang::En => "Home office is ready to use. Your Buypass card is registered and activated. Norsk Helsenett",
    }
}

/// Sent when a Buypass registration replaced the account's earlier card. A plain hyphen, not
/// the en dash of the wording we were given: an en dash is outside GSM-7, and one such
/// character turns the whole message into UCS-2 (70 characters a part, so two parts).
/// `not_me` is the portal's "this wasn't me" page without its scheme (see [`not_me_link`]).
pub fn buypass_card_replaced(lang: Lang, not_me: &str) -> String {
    match lang {
        Lang::Nb => {
            format!("Buypasskortet ditt er byttet - var det ikke deg, gå til {not_me} eller ring kundesenteret.")
        }
        Lang::Nn => {
            format!("Buypasskortet ditt er bytt - var det ikkje deg, gå til {not_me} eller ring kundesenteret.")
        }
        Lang::En => format!(
            "Your Buypass card has been replaced - if this was not you, go to {not_me} or call the customer centre."
        ),
    }
}

/// The security notices' "this wasn't me" address: the portal's host and `/ikke-meg`, without a
/// scheme (it is a page that leads to the login, never a link that logs anyone in, and without
/// `https://` phones still offer to open it while it reads less like a phishing link).
pub fn not_me_link(portal_url: &str) -> String {
    let host = portal_url
        .split_once("://")
        .map_or(portal_url, |(_, rest)| rest)
        .trim_end_matches('/');
    format!("{host}/ikke-meg")
}

/// A login from a browser this account had not used before (issue 16). No code, no login link.
pub fn new_device_login(lang: Lang, not_me: &str) -> String {
    match lang {
        Lang::Nb => format!(
            "Ny innlogging i Norsk Helsenett kundeportal fra en ny nettleser. Var det ikke deg, gå til {not_me}"
        ),
        Lang::Nn => format!(
            "Ny innlogging i Norsk Helsenett kundeportal frå ein ny nettlesar. Var det ikkje deg, gå til {not_me}"
        ),
        Lang::En => {
            format!("New login to the Norsk Helsenett customer portal from a new browser. Not you? Go to {not_me}")
        }
    }
}

/// Confirms "this wasn't me": every session ended, the card blocked, a new password needed.
pub fn not_me_confirmed(lang: Lang, not_me: &str) -> String {
    match lang {
        Lang::Nb => format!("Du har meldt fra om misbruk. Alle innlogginger er avsluttet og Buypasskortet sperret. Logg inn via {not_me} og bytt passord."),
        Lang::Nn => format!("Du har meldt frå om misbruk. Alle innloggingar er avslutta og Buypasskortet sperra. Logg inn via {not_me} og byt passord."),
        Lang::En => format!("You reported misuse. Every login was ended and your Buypass card blocked. Log in via {not_me} and change your password."),
    }
}

pub fn totp_enabled(lang: Lang) -> &'static str {
    match lang {
        Lang::Nb => "En autentiseringsapp er lagt til for innlogging i Norsk Helsenett kundeportal. Var det ikke deg, ring kundesenteret på 24 20 00 00.",
        Lang::Nn => "Ein autentiseringsapp er lagd til for innlogging i Norsk Helsenett kundeportal. Var det ikkje deg, ring kundesenteret på 24 20 00 00.",
        Lang::En => "An authenticator app was added for login to the Norsk Helsenett customer portal. Not you? Call the customer centre on 24 20 00 00.",
    }
}

pub fn totp_removed(lang: Lang) -> &'static str {
    match lang {
        Lang::Nb => "Autentiseringsappen er fjernet fra kontoen din i Norsk Helsenett kundeportal. Var det ikke deg, ring kundesenteret på 24 20 00 00.",
        Lang::Nn => "Autentiseringsappen er fjerna frå kontoen din i Norsk Helsenett kundeportal. Var det ikkje deg, ring kundesenteret på 24 20 00 00.",
        Lang::En => "The authenticator app was removed from your Norsk Helsenett customer portal account. Not you? Call the customer centre on 24 20 00 00.",
    }
}

/// GSM 03.38 basic character set plus the extension table (which costs two septets).
pub fn passkey_added(lang: Lang) -> &'static str {
    match lang {
        Lang::Nb => "En passnøkkel er lagt til for innlogging i Norsk Helsenett kundeportal. Var det ikke deg, ring kundesenteret på 24 20 00 00.",
        Lang::Nn => "Ein passnøkkel er lagd til for innlogging i Norsk Helsenett kundeportal. Var det ikkje deg, ring kundesenteret på 24 20 00 00.",
        Lang::En => "A passkey was added for login to the Norsk Helsenett customer portal. Not you? Call the customer centre on 24 20 00 00.",
    }
}

/// A recovery code was used (login or password reset): the owner hears of it at once.
pub fn recovery_code_used(lang: Lang) -> &'static str {
    match lang {
        Lang::Nb => "En gjenopprettingskode er brukt for kontoen din i Norsk Helsenett kundeportal. Var det ikke deg, ring kundesenteret på 24 20 00 00.",
        Lang::Nn => "Ein gjenopprettingskode er brukt for kontoen din i Norsk Helsenett kundeportal. Var det ikkje deg, ring kundesenteret på 24 20 00 00.",
        Lang::En => "A recovery code was used for your Norsk Helsenett customer portal account. Not you? Call the customer centre on 24 20 00 00.",
    }
}

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

/// How many SMS segments `text` costs: GSM-7 when every character is in it (160 septets
/// alone, 153 per part when concatenated), UCS-2 otherwise (70, or 67 per part).
pub fn segments(text: &str) -> usize {
    let (single, part, units) = match gsm7_septets(text) {
        Some(septets) => (160, 153, septets),
        None => (70, 67, text.encode_utf16().count()),
    };
    if units <= single {
        1
    } else {
        units.div_ceil(part)
    }
}

/// True when `text` is one single-part GSM-7 SMS.
pub fn fits_one_sms(text: &str) -> bool {
    gsm7_septets(text).is_some_and(|n| n <= 160)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message in every language, with the longest values it can carry.
    fn every_message() -> Vec<(&'static str, Lang, String)> {
        let code = OneTimeCode::parse("123456").unwrap();
        // Usernames may have 64 characters (domain::Username).
        let longest_user = "a".repeat(64);
        let generated_password = "Abcd-Efgh-Ijkl-Mnop";
        // The longest portal host the WebOTP line may name.
        let host = WebOtpHost::from_portal_url(&format!(
            "https://{}.no",
            "h".repeat(super::super::webotp::MAX_HOST_LEN - 3)
        ))
        .unwrap();
        assert_eq!(host.as_str().len(), super::super::webotp::MAX_HOST_LEN);
        let new_mobile = crate::domain::MobileNumber::parse("+4791234567").unwrap();
        let code_sms = |purpose: ChallengePurpose, lang| code_message(&purpose, lang, &code, Some(&host));
        // A longer portal host than any we deploy to.
        let not_me = not_me_link("https://kundeportal.hjemmekontor.nhn.no/");
        let mut all = Vec::new();
        for lang in Lang::ALL {
            all.extend([
                (
                    "login_code",
                    lang,
                    code_sms(ChallengePurpose::Login { remember_me: true }, lang),
                ),
                ("reset_code", lang, code_sms(ChallengePurpose::PasswordReset, lang)),
                (
                    "phone_change_code",
                    lang,
                    code_sms(
                        ChallengePurpose::PhoneChange {
                            new_mobile: new_mobile.clone(),
                        },
                        lang,
                    ),
                ),
                (
                    "initial_password",
                    lang,
                    initial_password(lang, &longest_user, generated_password),
                ),
                ("password_changed", lang, password_changed(lang).to_owned()),
                ("phone_changed", lang, phone_changed(lang).to_owned()),
                ("home_office_ready", lang, home_office_ready(lang).to_owned()),
                ("totp_enabled", lang, totp_enabled(lang).to_owned()),
                ("totp_removed", lang, totp_removed(lang).to_owned()),
                ("passkey_added", lang, passkey_added(lang).to_owned()),
                ("recovery_code_used", lang, recovery_code_used(lang).to_owned()),
                ("buypass_card_replaced", lang, buypass_card_replaced(lang, &not_me)),
                ("new_device_login", lang, new_device_login(lang, &not_me)),
                ("not_me_confirmed", lang, not_me_confirmed(lang, &not_me)),
            ]);
        }
        all
    }

    #[test]
    fn segment_count_of_every_message_in_every_language() {
        // (message, nb, nn, en): all three languages fit GSM-7 (æøå are in its alphabet), so
        // every message is one segment in each.
        const EXPECTED: &[(&str, usize, usize, usize)] = &[
            ("login_code", 1, 1, 1),
            ("reset_code", 1, 1, 1),
            ("phone_change_code", 1, 1, 1),
            ("initial_password", 1, 1, 1),
            ("password_changed", 1, 1, 1),
            ("phone_changed", 1, 1, 1),
            ("home_office_ready", 1, 1, 1),
            ("totp_enabled", 1, 1, 1),
            ("totp_removed", 1, 1, 1),
            ("passkey_added", 1, 1, 1),
            ("recovery_code_used", 1, 1, 1),
            ("buypass_card_replaced", 1, 1, 1),
            ("new_device_login", 1, 1, 1),
            ("not_me_confirmed", 1, 1, 1),
        ];
        let messages = every_message();
        assert_eq!(messages.len(), EXPECTED.len() * Lang::ALL.len());
        for (name, lang, text) in &messages {
            let (_, nb, nn, en) = EXPECTED
                .iter()
                .find(|(n, ..)| n == name)
                .unwrap_or_else(|| panic!("{name} has no expected segment count"));
            let expected = match lang {
                Lang::Nb => *nb,
                Lang::Nn => *nn,
                Lang::En => *en,
            };
            assert!(
                gsm7_septets(text).is_some(),
                "{name} ({}) is not GSM-7: {text}",
                lang.tag()
            );
            assert_eq!(
                segments(text),
                expected,
                "{name} ({}, {} septets): {text}",
                lang.tag(),
                gsm7_septets(text).unwrap_or(0)
            );
        }
    }

    #[test]
    fn every_code_sms_ends_with_the_webotp_line_of_the_portal_host() {
        let host = WebOtpHost::from_portal_url("https://kundeportal.example.no").unwrap();
        let code = OneTimeCode::parse("654321").unwrap();
        for (name, _, text) in every_message().into_iter().filter(|(n, ..)| n.ends_with("_code")) {
            let last = text.lines().last().unwrap_or_default();
            assert!(last.starts_with('@') && last.ends_with(" #123456"), "{name}: {text}");
        }
        let login = code_message(&ChallengePurpose::PasswordReset, Lang::En, &code, Some(&host));
        assert!(login.ends_with("\n@kundeportal.example.no #654321"), "{login}");
        assert!(login.starts_with("Your code for a new password is 654321."));
    }

    #[test]
    fn each_language_has_its_own_text() {
        for name in ["login_code", "password_changed", "home_office_ready"] {
            let texts: Vec<String> = every_message()
                .into_iter()
                .filter(|(n, ..)| *n == name)
                .map(|(.., t)| t)
                .collect();
            assert_eq!(texts.len(), 3);
            assert_ne!(texts[0], texts[1], "{name}: nn is a copy of nb");
            assert_ne!(texts[0], texts[2], "{name}: en is a copy of nb");
        }
    }

    #[test]
    fn security_notices_point_at_the_not_me_page_and_carry_no_code_or_login_link() {
        assert_eq!(not_me_link("https://portal.nhn.no"), "portal.nhn.no/ikke-meg");
        assert_eq!(not_me_link("http://127.0.0.1:8080/"), "127.0.0.1:8080/ikke-meg");
        for (name, _, text) in every_message() {
            if ["buypass_card_replaced", "new_device_login", "not_me_confirmed"].contains(&name) {
                assert!(
                    text.contains("kundeportal.hjemmekontor.nhn.no/ikke-meg"),
                    "{name}: {text}"
                );
                assert!(
                    !text.contains("://") && !text.chars().any(|c| c.is_ascii_digit()),
                    "{name}: {text}"
                );
            }
        }
    }

    #[test]
    fn segments_are_counted_as_operators_bill_them() {
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"a".repeat(306)), 2);
        assert_eq!(segments(&"a".repeat(307)), 3);
        assert_eq!(segments(&"€".repeat(80)), 1);
        assert_eq!(segments(&"€".repeat(81)), 2);
        assert_eq!(segments("emoji 🙂"), 1);
        assert_eq!(segments(&"🙂".repeat(36)), 2);
    }

    #[test]
    fn gsm7_rejects_characters_outside_the_alphabet() {
        assert!(!fits_one_sms("emoji 🙂"));
        assert!(!fits_one_sms(&"a".repeat(161)));
        assert!(fits_one_sms(&"æøå".repeat(53)));
    }
}
