//! API Gateway HTTP API (payload 2.0) events and responses, as the Lambda service passes them.

use base64::Engine;
use serde_json::{json, Value};

/// A v2 event for `method path` with an optional JSON body, cookies and extra headers.
pub fn event(method: &str, path: &str, body: Option<&Value>, cookies: &[String], headers: &[(&str, &str)]) -> Value {
    let mut header_map = serde_json::Map::new();
    header_map.insert("host".into(), json!("api.hjemmekontor.test"));
    header_map.insert("user-agent".into(), json!("aws-emulator-tests"));
    if body.is_some() {
        header_map.insert("content-type".into(), json!("application/json"));
    }
    for (k, v) in headers {
        header_map.insert(k.to_ascii_lowercase(), json!(v));
    }
    let request_id = format!("req-{:016x}", rand::random::<u64>());
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "portalapi",
            "domainName": "api.hjemmekontor.test",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.23",
                "userAgent": "aws-emulator-tests"
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_000_000_000u64
        },
        "isBase64Encoded": false
    });
    if let Some(body) = body {
        event["body"] = json!(body.to_string());
    }
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    event
}

/// What a function answered, decoded from the API Gateway v2 response shape.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: serde_json::Map<String, Value>,
    pub cookies: Vec<String>,
    pub body: String,
}

impl Reply {
    pub fn parse(raw: &Value) -> Self {
        let body = raw["body"].as_str().unwrap_or_default();
        let body = if raw["isBase64Encoded"] == json!(true) {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .expect("base64 body"),
            )
            .expect("utf-8 body")
        } else {
            body.to_owned()
        };
        Self {
            status: raw["statusCode"].as_u64().expect("statusCode") as u16,
            headers: raw["headers"].as_object().cloned().unwrap_or_default(),
            cookies: raw["cookies"]
                .as_array()
                .map(|c| c.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("JSON body: {}", self.body))
    }

    /// The `name=value` part of the Set-Cookie for `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .and_then(|c| c.split(';').next())
            .map(str::to_owned)
    }
}
