//! The user's authenticator app, as the tests use it: a generator built from the base32 secret
//! the portal shows at enrolment, with the parameters the enrolment's `otpauth://` URI names
//! (SHA-1, 6 digits, 30 s). Built here from `totp-rs` directly, not from the portal's own
//! generator, so a test of the portal's codes does not check the portal against itself.

/// The app set up from `secret_base32`; `Err` names what was wrong with the secret.
pub fn authenticator_app(secret_base32: &str) -> Result<totp_rs::Totp, String> {
    let secret = totp_rs::Secret::try_from_base32(secret_base32)
        .map_err(|e| format!("not a base32 secret: {e:?}"))?
        .as_bytes()
        .to_vec();
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .map_err(|e| format!("authenticator: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_the_rfc_6238_sha1_vector() {
        // RFC 6238 appendix B: the ASCII secret "12345678901234567890", T = 59 s, 8 digits
        // 94287082; the app shows the last 6 of them.
        let app = authenticator_app("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(app.generate(59).to_string(), "287082");
        assert!(authenticator_app("not base32!").is_err());
    }
}
