//! `openapi.yaml` and the code must describe the same API: every served route is documented
//! with the function that serves it, and every documented route is served.

use std::collections::BTreeSet;

use portal_http::routes::{Function, ROUTES};

fn spec() -> serde_yaml::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("openapi.yaml: {e}"))
}

/// (METHOD, path, x-function) for every documented operation.
fn documented() -> BTreeSet<(String, String, String)> {
    let spec = spec();
    let mut ops = BTreeSet::new();
    let paths = spec["paths"].as_mapping().unwrap_or_else(|| panic!("no paths"));
    for (path, item) in paths {
        let path = path.as_str().unwrap_or_default().to_owned();
        for (method, op) in item.as_mapping().into_iter().flatten() {
            let method = method.as_str().unwrap_or_default();
            if !["get", "post", "put", "delete", "patch"].contains(&method) {
                continue;
            }
            let function = op["x-function"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no x-function"));
            ops.insert((method.to_uppercase(), path.clone(), function.to_owned()));
        }
    }
    ops
}

#[test]
fn every_served_route_is_documented_with_its_function() {
    let documented = documented();
    for (method, path, function) in ROUTES {
        let entry = (method.to_string(), path.to_string(), function.name().to_owned());
        assert!(
            documented.contains(&entry),
            "{method} {path} ({}) is not in openapi.yaml",
            function.name()
        );
    }
}

#[test]
fn every_documented_lambda_route_is_served() {
    let served: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .map(|(m, p, f)| (m.to_string(), p.to_string(), f.name().to_owned()))
        .collect();
    let lambda_names: BTreeSet<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    for entry in documented() {
        if entry.2 == "portal-local" {
            continue;
        }
        assert!(
            lambda_names.contains(entry.2.as_str()),
            "{entry:?} names an unknown function"
        );
        assert!(served.contains(&entry), "{entry:?} is documented but not served");
    }
}

#[test]
fn every_operation_documents_its_errors_as_problems() {
    let spec = spec();
    for (path, item) in spec["paths"].as_mapping().into_iter().flatten() {
        for (method, op) in item.as_mapping().into_iter().flatten() {
            let Some(responses) = op["responses"].as_mapping() else {
                continue;
            };
            for (status, response) in responses {
                let status = status.as_str().unwrap_or_default();
                if status.starts_with('4') || status.starts_with('5') {
                    let reference = response["$ref"].as_str().unwrap_or_default();
                    assert!(
                        reference.starts_with("#/components/responses/"),
                        "{method:?} {path:?} {status} is not a shared problem response"
                    );
                }
            }
            if op["security"].as_sequence().is_some_and(|s| !s.is_empty()) {
                assert!(
                    responses.contains_key("401"),
                    "{method:?} {path:?} is authenticated but documents no 401"
                );
            }
        }
    }
}

// ---- infra/iam.tf's dynamodb:LeadingKeys against what each function's code touches ----------

mod leading_keys {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use axum::http::{header, HeaderValue, Method};
    use axum::Router;
    use portal_core::buypass::certificate::AcceptedCertificate;
    use portal_core::buypass::registry::CardKey;
    use portal_core::domain::{CertificateSerial, IssuerId, MobileNumber};
    use portal_core::store::sqlite::SqliteStore;
    use portal_testkit::{CountingStore, TestApp};
    use serde_json::{json, Value};

    use crate::harness::{request, send, KARI_MOBILE, PASSWORD};

    /// The partition-key patterns infra/iam.tf allows `function` (`table_key_prefixes`).
    fn allowed(function: &str) -> Vec<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/iam.tf");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let block = text
            .split("table_key_prefixes = {")
            .nth(1)
            .and_then(|rest| rest.split("\n  }").next())
            .unwrap_or_else(|| panic!("no table_key_prefixes in infra/iam.tf"));
        let line = block
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("\"{function}\"")))
            .unwrap_or_else(|| panic!("no key prefixes for {function}"));
        let list = line
            .split_once('[')
            .and_then(|(_, r)| r.split_once(']'))
            .map(|(l, _)| l);
        list.unwrap_or_default()
            .split(',')
            .map(|p| p.trim().trim_matches('"').to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Asserts every touched key matches one of `function`'s patterns (only trailing `*` is used).
    fn assert_allowed(function: &str, touched: &BTreeSet<String>) {
        assert!(!touched.is_empty(), "{function}: the scenario touched nothing");
        let patterns = allowed(function);
        for pk in touched {
            let ok = patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => pk.starts_with(prefix),
                None => pk == p,
            });
            assert!(
                ok,
                "{function} touches {pk}, which infra/iam.tf's LeadingKeys ({patterns:?}) refuse"
            );
        }
    }

    struct World {
        t: TestApp,
        store: Arc<CountingStore>,
    }

    impl World {
        async fn new() -> Self {
            let store = CountingStore::new(Arc::new(SqliteStore::in_memory().unwrap()));
            let t = TestApp::on(store.clone());
            let kari = t.account("kari", PASSWORD, KARI_MOBILE).await;
            let cert = AcceptedCertificate {
                serial: CertificateSerial::parse("3B9DA260CE3585ECD14B").unwrap(),
                issuer_id: IssuerId::from_issuer_der(b"test issuer"),
                subject: "CN=Kari".into(),
                issuer: "CN=Test CA".into(),
                not_after: t.app.now() + 86_400,
            };
            t.app.register_serial(&kari, &cert, Some("sub"), None).await.unwrap();
            store.take_partition_keys();
            Self { t, store }
        }

        async fn call(
            &self,
            router: &Router,
            method: &str,
            path: &str,
            body: Value,
            auth: Option<&str>,
            cookie: Option<&str>,
        ) -> Value {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let body = (!body.is_null()).then_some(body);
            let mut request = request(method.clone(), path, auth, body);
            if let Some(cookie) = cookie {
                let cookie = HeaderValue::from_str(cookie).unwrap();
                request.headers_mut().insert(header::COOKIE, cookie);
            }
            let answer = send(router, request).await;
            assert!(answer.status.as_u16() < 500, "{method} {path}: {}", answer.status);
            answer.body
        }

        fn last_code(&self) -> String {
            self.t
                .sms
                .last_code_to(&MobileNumber::parse(KARI_MOBILE).unwrap())
                .unwrap()
                .expose()
                .to_owned()
        }
    }

    /// Every table request of each function's routes, driven through a recording store, must be
    /// allowed by the function's LeadingKeys condition: a missing prefix passes every local
    /// test and fails only in AWS, with AccessDenied.
    #[tokio::test]
    async fn every_key_a_function_touches_is_allowed_by_its_iam_policy() {
        let w = World::new().await;
        let app = w.t.app.clone();

        let login = portal_http::routes::login_routes().with_state(app.clone());
        w.call(
            &login,
            "POST",
            "/v1/auth/login",
            json!({"username": "kari", "password": PASSWORD}),
            None,
            None,
        )
        .await;
        w.call(
            &login,
            "POST",
            "/v1/auth/login",
            json!({"username": "kari", "password": "feil feil feil"}),
            None,
            None,
        )
        .await;
        w.call(
            &login,
            "POST",
            "/v1/auth/login",
            json!({"username": "ukjent", "password": "feil feil feil"}),
            None,
            None,
        )
        .await;
        w.call(
            &login,
            "POST",
            "/v1/auth/password/forgot",
            json!({"username": "ukjent"}),
            None,
            None,
        )
        .await;
        let forgot = w
            .call(
                &login,
                "POST",
                "/v1/auth/password/forgot",
                json!({"username": "kari"}),
                None,
                None,
            )
            .await;
        let reset = json!({"challenge_id": forgot["challenge_id"], "code": w.last_code(), "new_password": "blåbær syltetøy på vaffel"});
        w.call(&login, "POST", "/v1/auth/password/reset", reset, None, None)
            .await;
        assert_allowed("login", &w.store.take_partition_keys());

        let sms_code = portal_http::routes::sms_code_routes().with_state(app.clone());
        let issued = app
            .login(
                "kari",
                &portal_core::domain::Password::new("blåbær syltetøy på vaffel".into()),
                false,
                None,
            )
            .await
            .unwrap();
        w.t.clock.advance(30);
        w.store.take_partition_keys();
        w.call(
            &sms_code,
            "POST",
            "/v1/auth/sms/resend",
            json!({"challenge_id": issued.challenge_id}),
            None,
            None,
        )
        .await;
        let verified = w
            .call(
                &sms_code,
                "POST",
                "/v1/auth/sms/verify",
                json!({"challenge_id": issued.challenge_id, "code": w.last_code()}),
                None,
                None,
            )
            .await;
        w.call(
            &sms_code,
            "POST",
            "/v1/auth/sms/status",
            json!({"challenge_id": issued.challenge_id}),
            None,
            None,
        )
        .await;
        let token = verified["access_token"].as_str().unwrap_or_default().to_owned();
        assert!(!token.is_empty(), "{verified}");
        w.call(
            &sms_code,
            "POST",
            "/v1/auth/totp/verify",
            json!({"challenge_id": issued.challenge_id, "code": "123456"}),
            None,
            None,
        )
        .await;
        let kari = portal_core::domain::Username::parse("kari").unwrap();
        let other = app.open_session(&kari, false, None).await.unwrap();
        w.store.take_partition_keys();
        let cookie = format!("{}={}", app.settings.refresh_cookie, other.refresh.encode());
        w.call(&sms_code, "POST", "/v1/auth/refresh", Value::Null, None, Some(&cookie))
            .await;
        w.call(
            &sms_code,
            "POST",
            "/v1/auth/logout",
            Value::Null,
            Some(&other.access_token),
            None,
        )
        .await;
        assert_allowed("sms-code", &w.store.take_partition_keys());

        let account = portal_http::routes::account_routes().with_state(app.clone());
        let me = Some(token.as_str());
        let shown = w.call(&account, "GET", "/v1/account", Value::Null, me, None).await;
        assert_eq!(shown["home_office"]["buypass"]["status"], "pending", "{shown}");
        w.call(
            &account,
            "PUT",
            "/v1/account/language",
            json!({"language": "nn"}),
            me,
            None,
        )
        .await;
        w.call(
            &account,
            "POST",
            "/v1/account/totp",
            json!({"password": "blåbær syltetøy på vaffel"}),
            me,
            None,
        )
        .await;
        let phone = w
            .call(
                &account,
                "POST",
                "/v1/account/phone",
                json!({"new_mobile": "+4798765432", "password": "blåbær syltetøy på vaffel"}),
                me,
                None,
            )
            .await;
        let code =
            w.t.sms
                .last_code_to(&MobileNumber::parse("+4798765432").unwrap())
                .unwrap()
                .expose()
                .to_owned();
        w.call(
            &account,
            "POST",
            "/v1/account/phone/confirm",
            json!({"challenge_id": phone["challenge_id"], "code": code}),
            me,
            None,
        )
        .await;
        w.call(
            &account,
            "PUT",
            "/v1/account/password",
            json!({"old_password": "feil passord her", "new_password": "en helt ny passordfrase"}),
            me,
            None,
        )
        .await;
        // The security centre: sessions, history (with a cursor), ending one, not-me.
        let listed = w
            .call(&account, "GET", "/v1/account/sessions", Value::Null, me, None)
            .await;
        assert!(listed["sessions"].as_array().is_some_and(|s| !s.is_empty()), "{listed}");
        let page = w
            .call(
                &account,
                "GET",
                "/v1/account/security-events?limit=1",
                Value::Null,
                me,
                None,
            )
            .await;
        let next = page["next_cursor"].as_str().unwrap_or_default().to_owned();
        assert!(!next.is_empty(), "{page}");
        w.call(
            &account,
            "GET",
            &format!("/v1/account/security-events?cursor={next}"),
            Value::Null,
            me,
            None,
        )
        .await;
        let spare = app.open_session(&kari, false, None).await.unwrap();
        w.call(
            &account,
            "DELETE",
            &format!("/v1/account/sessions/{}", spare.session.id),
            Value::Null,
            me,
            None,
        )
        .await;
        w.call(
            &account,
            "POST",
            "/v1/account/sessions/revoke-others",
            Value::Null,
            me,
            None,
        )
        .await;
        let not_me = w
            .call(
                &account,
                "POST",
                "/v1/account/not-me",
                json!({"password": "blåbær syltetøy på vaffel"}),
                me,
                None,
            )
            .await;
        assert_eq!(not_me["card_revoked"], "3B9DA260CE3585ECD14B", "{not_me}");
        assert_allowed("account", &w.store.take_partition_keys());

        // buypass's callback writes the registry; serial-activation's gateway lookups read it.
        let cert = AcceptedCertificate {
            serial: CertificateSerial::parse("0A1B2C").unwrap(),
            issuer_id: IssuerId::from_issuer_der(b"test issuer"),
            subject: "CN=Kari".into(),
            issuer: "CN=Test CA".into(),
            not_after: app.now() + 86_400,
        };
        app.register_serial(&kari, &cert, Some("sub"), None).await.unwrap();
        assert_allowed("buypass", &w.store.take_partition_keys());
        app.active_for_gateway(&CardKey::new(cert.issuer_id.clone(), cert.serial.clone()))
            .await
            .unwrap();
        app.active_for_gateway_by_serial(&cert.serial).await.unwrap();
        // The SNS delivery status of an SMS the portal sent (it texted kari's new number).
        let sent =
            w.t.sms
                .last_message_id_to(&MobileNumber::parse("+4798765432").unwrap())
                .unwrap();
        let failed = portal_core::sms::delivery_status::DeliveryStatus {
            message_id: sent,
            delivered: false,
            destination: None,
            provider_response: "Unknown error attempting to reach phone".into(),
        };
        let report = app.record_sms_delivery(&[failed]).await.unwrap();
        assert_eq!(report.failed, 1);
        assert_allowed("serial-activation", &w.store.take_partition_keys());
    }
}
