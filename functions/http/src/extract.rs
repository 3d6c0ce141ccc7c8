//! Extractors that turn untrusted request parts into typed values or problem responses.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest JSON body any route accepts.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How much of an oversized body is read and thrown away so the client gets its 413.
const DRAIN_LIMIT_BYTES: usize = 1024 * 1024;

/// A JSON body, with every failure (wrong media type, bad syntax, wrong shape, too large)
/// answered as a 4xx problem, never a 500 or a plain-text error.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let declared_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared_length.is_some_and(|n| n > MAX_BODY_BYTES) {
            // Read (and drop) a moderately oversized body before answering: closing the
            // connection on unread data makes TCP reset it, and the client then never sees
            // the 413. Anything larger than the drain limit is cut off regardless.
            let _ = axum::body::to_bytes(req.into_body(), DRAIN_LIMIT_BYTES).await;
            return Err(ApiError::BodyTooLarge);
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BodyTooLarge
            } else {
                ApiError::MalformedBody("the body could not be read".into())
            }
        })?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::BodyTooLarge);
        }
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body; domain newtypes validate during deserialisation, so their messages
/// arrive here and are passed on (they never contain secrets).
///
/// Every request body of this API is a JSON object. serde's derived structs would also take
/// an array of the field values in order (`["kari","pw"]`), which the contract does not allow
/// and which no other parser of the same body (a gateway, a WAF) would read the same way, so
/// anything but an object is refused before it gets that far.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first.is_some_and(|b| *b != b'{') {
        // Still tell a syntax error from a body of the wrong shape.
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => ApiError::MalformedBody("the body must be a JSON object".into()),
            Err(e) => ApiError::MalformedBody(describe(&e)),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(&mut de).map_err(|e| ApiError::MalformedBody(describe(&e)))?;
    de.end().map_err(|e| ApiError::MalformedBody(describe(&e)))?;
    Ok(value)
}

fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => "the body is not valid JSON".into(),
        Category::Data => {
            // serde's message names the field and the expectation, e.g. "missing field `code`".
            let text = e.to_string();
            text.split(" at line ").next().unwrap_or("invalid field").to_owned()
        }
        Category::Io => "the body could not be read".into(),
    }
}

/// The caller's address: behind CloudFront the viewer's address it vouches for
/// ([`crate::origin::ViewerIp`], trusted only with the origin secret), else API
/// Gateway's `sourceIp` in Lambda, the socket peer locally.
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl ClientIp {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(viewer) = parts.extensions.get::<crate::origin::ViewerIp>() {
            return Ok(Self(Some(viewer.0.to_string())));
        }
        if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) =
            parts.extensions.get::<lambda_http::request::RequestContext>()
        {
            if let Some(ip) = &ctx.http.source_ip {
                return Ok(Self(Some(ip.clone())));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Self(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        username: String,
        password: String,
    }

    #[test]
    fn only_objects_are_bodies() {
        assert_eq!(
            parse_json::<Body>(br#" {"username":"kari","password":"pw"} "#).unwrap(),
            Body {
                username: "kari".into(),
                password: "pw".into()
            }
        );
        // Found by the fuzz tests: serde reads a struct from an array of its field values.
        for (raw, detail) in [
            (&br#"["kari","pw"]"#[..], "the body must be a JSON object"),
            (b" \n[\"kari\",\"pw\"]", "the body must be a JSON object"),
            (b"\"kari\"", "the body must be a JSON object"),
            (b"null", "the body must be a JSON object"),
            (b"[\"kari\",", "the body is not valid JSON"),
            (b"", "the body is not valid JSON"),
        ] {
            match parse_json::<Body>(raw) {
                Err(ApiError::MalformedBody(d)) => assert_eq!(d, detail, "{}", String::from_utf8_lossy(raw)),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(raw)),
            }
        }
    }
}
