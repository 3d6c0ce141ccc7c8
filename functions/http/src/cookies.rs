//! The refresh cookie: `__Host-` prefix, HttpOnly, Secure, SameSite=Strict, Path=/.

use axum::http::{header, HeaderMap, HeaderValue};

/// `Set-Cookie` for a refresh token; `max_age` `None` makes a browser-session cookie.
pub fn refresh_cookie(name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let persistence = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    let text = format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Strict{persistence}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the refresh cookie.
pub fn clear_refresh_cookie(name: &str) -> HeaderValue {
    let text = format!("{name}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of cookie `name` in the request, if present exactly once.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k.trim() == name {
                    if found.is_some() {
                        // Two cookies of the same name: someone is playing games.
                        return None;
                    }
                    found = Some(v.trim().to_owned());
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_has_every_required_attribute() {
        let c = refresh_cookie("__Host-hk_refresh", "abc", None);
        let text = c.to_str().unwrap();
        for attr in ["Path=/", "HttpOnly", "Secure", "SameSite=Strict"] {
            assert!(text.contains(attr), "{text}");
        }
        assert!(!text.contains("Max-Age") && !text.contains("Domain"));
        assert!(refresh_cookie("n", "v", Some(100))
            .to_str()
            .unwrap()
            .ends_with("Max-Age=100"));
    }

    #[test]
    fn reads_one_cookie_among_many_and_refuses_duplicates() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-hk_refresh=tok; b=2"),
        );
        assert_eq!(read_cookie(&h, "__Host-hk_refresh").as_deref(), Some("tok"));
        h.append(header::COOKIE, HeaderValue::from_static("__Host-hk_refresh=other"));
        assert_eq!(read_cookie(&h, "__Host-hk_refresh"), None);
    }
}
