//! Requests must come through CloudFront (and its WAF): CloudFront adds a secret header
//! (`infra/cloudfront.tf`), and a function that was given the origin secret answers 404, as
//! for a path that does not exist, to every request without a matching value. The API's
//! execute-api hostname is guessable; without this check anyone could skip the WAF's per-IP
//! limits by calling it directly. The gateway's IAM-authorised route (serial-activation) is
//! called at the API directly and is not behind this check.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use portal_core::error::ServiceError;

use crate::error::ApiError;
use portal_core::app::SharedApp;

/// The header CloudFront's viewer-request function sets (infra/cloudfront.tf).
pub const ORIGIN_VERIFY_HEADER: &str = "x-hk-origin-verify";

/// The viewer's address as CloudFront saw it, set by the same function (a viewer's own copy
/// is deleted there). Behind CloudFront, API Gateway's `sourceIp` is a CloudFront server
/// shared by everyone at that edge location, so the per-address limits need this instead.
pub const VIEWER_IP_HEADER: &str = "x-hk-viewer-ip";

/// The viewer's address from [`VIEWER_IP_HEADER`], put into the request's extensions only
/// when the request also carried the origin secret: only CloudFront can have set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerIp(pub std::net::IpAddr);

/// Whether `presented` is one of `accepted`, compared in constant time per value (every
/// value is compared, so the time does not tell which one matched, if any).
pub fn origin_matches(accepted: &[String], presented: Option<&str>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    accepted.iter().fold(false, |found, value| {
        portal_core::security::ct_eq(value, presented) | found
    })
}

/// Middleware: passes requests carrying the origin secret, 404 for the rest. Without an
/// origin secret (portal-local, tests) it passes everything.
pub async fn require_origin(State(app): State<SharedApp>, mut request: Request, next: Next) -> Response {
    if let Some(accepted) = &app.origin_secrets {
        let presented = request
            .headers()
            .get(ORIGIN_VERIFY_HEADER)
            .and_then(|v| v.to_str().ok());
        if !origin_matches(accepted, presented) {
            return ApiError::from(ServiceError::NotFound).into_response();
        }
        let viewer = request
            .headers()
            .get(VIEWER_IP_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok());
        if let Some(ip) = viewer {
            request.extensions_mut().insert(ViewerIp(ip));
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_listed_value_passes() {
        let accepted = vec!["a".repeat(32), "b".repeat(32)];
        assert!(origin_matches(&accepted, Some(&"b".repeat(32))));
        assert!(!origin_matches(&accepted, Some(&"c".repeat(32))));
        assert!(!origin_matches(&accepted, Some(&"a".repeat(31))));
        assert!(!origin_matches(&accepted, Some("")));
        assert!(!origin_matches(&accepted, None));
        assert!(!origin_matches(&[], Some(&"a".repeat(32))));
    }
}
