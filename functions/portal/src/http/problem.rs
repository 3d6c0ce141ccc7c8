//! RFC 9457 problem details, with the title in Norwegian unless the client asks for English.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub title_no: &'static str,
    pub title_en: &'static str,
    pub detail_no: Option<String>,
    pub detail_en: Option<String>,
    pub retry_after: Option<u64>,
    /// Extension members (`attempts_left`, `errors`, `reasons`…).
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Norwegian,
    English,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, title_no: &'static str, title_en: &'static str) -> Self {
        Self {
            status,
            code,
            title_no,
            title_en,
            detail_no: None,
            detail_en: None,
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
        let (title, detail) = match lang {
            Lang::Norwegian => (self.title_no, &self.detail_no),
            Lang::English => (self.title_en, &self.detail_en),
        };
        body.insert("title".into(), Value::String(title.into()));
        if let Some(detail) = detail {
            body.insert("detail".into(), Value::String(detail.clone()));
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
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = self.render(Lang::Norwegian);
        response.extensions_mut().insert(self);
        response
    }
}

/// The client's preferred language among those we speak: English only when it ranks English
/// above Norwegian.
pub fn preferred_lang(headers: &HeaderMap) -> Lang {
    let Some(raw) = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
        return Lang::Norwegian;
    };
    let mut best: Option<(f32, Lang)> = None;
    for part in raw.split(',') {
        let mut pieces = part.trim().split(';');
        let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
            .unwrap_or(1.0);
        let lang = match tag.split('-').next().unwrap_or("") {
            "en" => Lang::English,
            "nb" | "no" | "nn" => Lang::Norwegian,
            _ => continue,
        };
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::Norwegian, |(_, l)| l)
}

/// Middleware: re-renders problem responses in English for clients that prefer it.
pub async fn localize(request: Request, next: Next) -> Response {
    let lang = preferred_lang(request.headers());
    let response = next.run(request).await;
    if lang == Lang::English {
        if let Some(problem) = response.extensions().get::<Problem>().cloned() {
            let mut english = problem.render(Lang::English);
            for (name, value) in response.headers() {
                if !english.headers().contains_key(name) {
                    english.headers_mut().insert(name.clone(), value.clone());
                }
            }
            return english;
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(value: &str) -> Lang {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(value).unwrap());
        preferred_lang(&h)
    }

    #[test]
    fn picks_english_only_when_preferred() {
        assert_eq!(lang("en"), Lang::English);
        assert_eq!(lang("en-GB,en;q=0.9"), Lang::English);
        assert_eq!(lang("nb-NO,nb;q=0.9,en;q=0.8"), Lang::Norwegian);
        assert_eq!(lang("de, en;q=0.5"), Lang::English);
        assert_eq!(lang("fr"), Lang::Norwegian);
        assert_eq!(preferred_lang(&HeaderMap::new()), Lang::Norwegian);
    }
}
