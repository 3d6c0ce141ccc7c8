//! The WebOTP line that ends every code SMS: `@<portal host> #<code>` (the origin-bound
//! one-time code format of the WebOTP API). A browser offers to fill in the code only on a page
//! of that host, so a phishing page on another origin never gets it autofilled; the portal's
//! code screen asks for it with `navigator.credentials.get({otp: …})`.

use crate::domain::OneTimeCode;

/// The longest host the line may name: with it every code SMS still fits one GSM-7 segment
/// in every language (the segment test in [`super::messages`] checks this length).
pub const MAX_HOST_LEN: usize = 40;

/// The portal's host as WebOTP wants it: lower case, with the port only when it is not the
/// scheme's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOtpHost(String);

impl WebOtpHost {
    /// From `PORTAL_URL` (`https://portal.example.no`, `http://127.0.0.1:8080/`), once at
    /// start-up.
    pub fn from_portal_url(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .trim()
            .split_once("://")
            .ok_or("the portal URL needs a scheme (https://)")?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "https" => "443",
            "http" => "80",
            _ => return Err("the portal URL must be http or https".into()),
        };
        let authority = rest
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => (host, Some(port)),
            Some(_) => return Err("the portal URL's port is not a number".into()),
            None => (authority.as_str(), None),
        };
        let valid_host = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !host.starts_with(['.', '-'])
            && !host.ends_with(['.', '-']);
        if !valid_host {
            return Err("the portal URL's host must be a DNS name or IPv4 address".into());
        }
        let text = match port {
            Some(p) if p != default_port => format!("{host}:{p}"),
            _ => host.to_owned(),
        };
        if text.len() > MAX_HOST_LEN {
            return Err(format!(
                "the portal URL's host is longer than {MAX_HOST_LEN} characters, too long for one SMS"
            ));
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `text` with the WebOTP line as its last line.
    pub fn append(&self, text: &str, code: &OneTimeCode) -> String {
        format!("{text}\n@{} #{}", self.0, code.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_keeps_only_a_port_that_is_not_the_default() {
        for (url, host) in [
            ("https://portal.example.no", "portal.example.no"),
            ("https://Portal.Example.no:443/", "portal.example.no"),
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://localhost:80/login?x=1", "localhost"),
            ("https://portal.example.no:8443#x", "portal.example.no:8443"),
        ] {
            assert_eq!(WebOtpHost::from_portal_url(url).unwrap().as_str(), host, "{url}");
        }
    }

    #[test]
    fn urls_without_a_usable_host_are_refused() {
        for url in [
            "portal.example.no",
            "ftp://portal.example.no",
            "https://",
            "https://user@portal.example.no",
            "https://[::1]:8080",
            "https://portal.example.no:x",
            "https://-portal.example.no",
            &format!("https://{}.no", "a".repeat(MAX_HOST_LEN)),
        ] {
            assert!(WebOtpHost::from_portal_url(url).is_err(), "{url} accepted");
        }
    }

    #[test]
    fn the_line_is_the_last_line_with_host_and_code() {
        let host = WebOtpHost::from_portal_url("https://portal.example.no").unwrap();
        let code = OneTimeCode::parse("123456").unwrap();
        assert_eq!(
            host.append("Koden er 123456.", &code),
            "Koden er 123456.\n@portal.example.no #123456"
        );
    }
}
