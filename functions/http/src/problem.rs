//! RFC 9457 problem details, with the title (and detail) in the language the client asks for
//! (`Accept-Language`: bokmål by default, nynorsk, English) from the catalogues of
//! [`portal_core::i18n`], keyed by the problem's stable `code`.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use portal_core::i18n::{self, Lang};

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    /// Catalogue keys whose texts, joined, are the `detail` (weak-password reasons).
    pub detail: Vec<&'static str>,
    pub retry_after: Option<u64>,
    /// Extension members (`attempts_left`, `errors`, `reasons`…).
    pub extra: Map<String, Value>,
}

impl Problem {
    /// A problem whose title is the catalogues' text for `code`.
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        Self {
            status,
            code,
            detail: Vec::new(),
            retry_after: None,
            extra: Map::new(),
        }
    }

    pub fn body(&self, lang: Lang) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            Value::String(format!("https://errors.hjemmekontor.nhn.no/{}", self.code)),
        );
        body.insert("status".into(), Value::from(self.status.as_u16()));
        body.insert("code".into(), Value::String(self.code.into()));
        body.insert("title".into(), Value::String(i18n::text(lang, self.code).into()));
        if !self.detail.is_empty() {
            let detail: Vec<&str> = self.detail.iter().map(|k| i18n::text(lang, k)).collect();
            body.insert("detail".into(), Value::String(detail.join(" ")));
        }
        for (k, v) in &self.extra {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(body)
    }

    fn render(&self, lang: Lang) -> Response {
        let mut response = Response::new(Body::from(self.body(lang).to_string()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.tag()));
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Language"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = self.render(Lang::Nb);
        response.extensions_mut().insert(self);
        response
    }
}

/// Middleware: re-renders problem responses in nynorsk or English for clients that ask for it
/// (handlers render bokmål and keep the problem in the response's extensions).
/// The header is only parsed for a problem: successful responses carry no titles.
pub async fn localize(request: Request, next: Next) -> Response {
    let accept_language = request.headers().get(header::ACCEPT_LANGUAGE).cloned();
    let response = next.run(request).await;
    let Some(problem) = response.extensions().get::<Problem>() else {
        return response;
    };
    let lang = Lang::from_accept_language(accept_language.as_ref());
    if lang == Lang::Nb {
        return response;
    }
    // Only the body and its language change; every header the handler or a layer set (several
    // `Set-Cookie`s, `Vary`, `Retry-After`…) stays as it was.
    let body = Body::from(problem.body(lang).to_string());
    let (mut parts, _) = response.into_parts();
    parts
        .headers
        .insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.tag()));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_and_detail_come_from_the_catalogue_of_the_language() {
        let mut problem = Problem::new(StatusCode::BAD_REQUEST, "weak_password");
        problem.detail = vec!["weak_password-too_short", "weak_password-common"];
        let nb = problem.body(Lang::Nb);
        let nn = problem.body(Lang::Nn);
        let en = problem.body(Lang::En);
        assert_eq!(nb["title"], "Passordet oppfyller ikke kravene.");
        assert_eq!(nn["title"], "Passordet oppfyller ikkje krava.");
        assert_eq!(en["title"], "The password does not meet the requirements.");
        assert_eq!(
            nn["detail"],
            "Passordet må ha minst 12 teikn. Passordet er for vanleg og lett å gjette."
        );
        assert_eq!(
            en["detail"],
            "The password must have at least 12 characters. The password is too common and easy to guess."
        );
        assert_eq!(nb["code"], "weak_password");
        assert_eq!(en["code"], "weak_password");
    }

    #[test]
    fn problem_responses_say_their_language() {
        let response = Problem::new(StatusCode::NOT_FOUND, "not_found").render(Lang::Nn);
        assert_eq!(response.headers()[header::CONTENT_LANGUAGE], "nn");
        assert_eq!(response.headers()[header::VARY], "Accept-Language");
    }

    /// Re-rendering in another language changes the body and `Content-Language` only: a
    /// handler's own headers, several values of one name included, are kept.
    #[tokio::test]
    async fn localizing_keeps_every_header_the_handler_set() {
        use axum::routing::get;
        use tower::ServiceExt;
        async fn handler() -> Response {
            let mut response =
                crate::error::ApiError::from(portal_core::error::ServiceError::SessionExpired).into_response();
            let headers = response.headers_mut();
            headers.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
            headers.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
            response
        }
        let router = axum::Router::new()
            .route("/", get(handler))
            .layer(axum::middleware::from_fn(localize));
        let request = axum::http::Request::get("/")
            .header(header::ACCEPT_LANGUAGE, "en")
            .body(Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::CONTENT_LANGUAGE], "en");
        assert_eq!(response.headers().get_all(header::SET_COOKIE).iter().count(), 2);
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "session_expired");
        assert_eq!(problem["title"], portal_core::i18n::text(Lang::En, "session_expired"));
    }
}
