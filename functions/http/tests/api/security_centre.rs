//! The security centre (issue 16) through the HTTP routes, as a user and as an attacker would
//! use them: sessions list and ending them, the security history and its cursor, "this wasn't
//! me", and the new-browser notice.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Method};
use axum::Router;
use portal_core::activation::gateway::{CapturingGateway, GatewayEventKind};
use portal_core::activation::{ActivationPolicy, Activator, Outcome, Trigger};
use portal_core::buypass::certificate::AcceptedCertificate;
use portal_core::buypass::registry::CardKey;
use portal_core::domain::{CertificateSerial, IssuerId, MobileNumber, Username};
use portal_http::routes::{app_router, with_common_layers};
use portal_testkit::TestApp;
use serde_json::{json, Value};

use crate::harness::{request, send, Answer, KARI_MOBILE, OLA_MOBILE, PASSWORD};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
const CHROME: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// A browser: its address, User-Agent and cookie jar (refresh and device cookies).
#[derive(Clone)]
struct Browser {
    ip: &'static str,
    user_agent: &'static str,
    refresh: Option<String>,
    device: Option<String>,
    token: Option<String>,
}

impl Browser {
    fn new(ip: &'static str, user_agent: &'static str) -> Self {
        Self {
            ip,
            user_agent,
            refresh: None,
            device: None,
            token: None,
        }
    }

    fn cookie_header(&self) -> String {
        [self.refresh.clone(), self.device.clone()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, answer: &Answer) {
        for cookie in &answer.set_cookies {
            let pair = cookie.split(';').next().unwrap_or_default().to_owned();
            if pair.starts_with("__Host-hk_refresh=") {
                self.refresh = Some(pair);
            } else if pair.starts_with("hk_device=") {
                self.device = Some(pair);
            }
        }
    }
}

struct World {
    t: TestApp,
    router: Router,
}

impl World {
    async fn new() -> Self {
        let t = TestApp::in_memory();
        t.account("kari", PASSWORD, KARI_MOBILE).await;
        t.account("ola", PASSWORD, OLA_MOBILE).await;
        let router = with_common_layers(app_router(t.app.clone()));
        Self { t, router }
    }

    async fn call(&self, browser: &Browser, method: &str, path: &str, body: Value) -> Answer {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (!body.is_null()).then_some(body);
        let mut request = request(method, path, browser.token.as_deref(), body);
        let headers = request.headers_mut();
        headers.insert(header::USER_AGENT, HeaderValue::from_static(browser.user_agent));
        let cookies = browser.cookie_header();
        if !cookies.is_empty() {
            headers.insert(header::COOKIE, HeaderValue::from_str(&cookies).unwrap());
        }
        let peer: SocketAddr = if browser.ip.contains(':') {
            format!("[{}]:40000", browser.ip)
        } else {
            format!("{}:40000", browser.ip)
        }
        .parse()
        .unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        send(&self.router, request).await
    }

    /// Password, code from the SMS, session: as the portal's login page does.
    async fn log_in(&self, browser: &mut Browser, username: &str, mobile: &str) {
        let started = self
            .call(
                browser,
                "POST",
                "/v1/auth/login",
                json!({ "username": username, "password": PASSWORD }),
            )
            .await;
        assert_eq!(started.status, 200, "{}", started.body);
        let code = self.t.sms.last_code_to(&MobileNumber::parse(mobile).unwrap()).unwrap();
        let verified = self
            .call(
                browser,
                "POST",
                "/v1/auth/sms/verify",
                json!({ "challenge_id": started.body["challenge_id"], "code": code.expose() }),
            )
            .await;
        assert_eq!(verified.status, 200, "{}", verified.body);
        browser.keep_cookies(&verified);
        browser.token = verified.body["access_token"].as_str().map(str::to_owned);
    }

    async fn sessions(&self, browser: &Browser) -> Vec<Value> {
        let answer = self.call(browser, "GET", "/v1/account/sessions", Value::Null).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["sessions"].as_array().cloned().unwrap_or_default()
    }

    async fn refresh(&self, browser: &Browser) -> u16 {
        self.call(browser, "POST", "/v1/auth/refresh", Value::Null)
            .await
            .status
            .as_u16()
    }

    fn texts_to(&self, mobile: &str) -> Vec<String> {
        self.t
            .sms
            .sent()
            .into_iter()
            .filter(|(to, _)| to == mobile)
            .map(|(_, body)| body)
            .collect()
    }
}

/// Whether `text` carries something like a one-time code (six digits in a row).
fn has_code(text: &str) -> bool {
    text.as_bytes().windows(6).any(|w| w.iter().all(u8::is_ascii_digit))
}

fn current_id(sessions: &[Value]) -> String {
    sessions
        .iter()
        .find(|s| s["current"] == true)
        .and_then(|s| s["id"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_list_shows_each_live_session_with_a_coarse_device_and_masked_network() {
    let w = World::new().await;
    let mut laptop = Browser::new("192.0.2.77", FIREFOX);
    let mut office = Browser::new("2001:db8:aa:bb::5", CHROME);
    w.log_in(&mut laptop, "kari", KARI_MOBILE).await;
    w.t.clock.advance(60);
    w.log_in(&mut office, "kari", KARI_MOBILE).await;

    let listed = w.sessions(&laptop).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["current"], true, "the current session comes first");
    assert_eq!(listed[0]["device"], "Firefox, Linux");
    assert_eq!(listed[0]["network"], "192.0.2.0/24");
    assert_eq!(listed[1]["current"], false);
    assert_eq!(listed[1]["device"], "Chrome, Windows 10");
    assert_eq!(listed[1]["network"], "2001:db8:aa::/48");
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains("192.0.2.77") && !text.contains("Gecko") && !text.contains("::5"));
    // Nothing finer is stored either.
    let index =
        w.t.store
            .query("ACCOUNT#kari", "SESSION#", w.t.app.now())
            .await
            .unwrap();
    let stored = serde_json::to_string(&index.iter().map(|i| &i.data).collect::<Vec<_>>()).unwrap();
    assert!(!stored.contains("192.0.2.77") && !stored.contains("Gecko"), "{stored}");

    // Ola's list holds only Ola's sessions.
    let mut ola = Browser::new("198.51.100.1", FIREFOX);
    w.log_in(&mut ola, "ola", OLA_MOBILE).await;
    assert_eq!(w.sessions(&ola).await.len(), 1);
}

#[tokio::test]
async fn ending_a_session_stops_its_next_request_and_its_refresh() {
    let w = World::new().await;
    let mut mine = Browser::new("192.0.2.1", FIREFOX);
    let mut other = Browser::new("192.0.2.2", CHROME);
    w.log_in(&mut mine, "kari", KARI_MOBILE).await;
    w.log_in(&mut other, "kari", KARI_MOBILE).await;
    let other_id = current_id(&w.sessions(&other).await);

    let ended = w
        .call(
            &mine,
            "DELETE",
            &format!("/v1/account/sessions/{other_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(ended.status, 204, "{}", ended.body);
    assert!(ended.set_cookies.is_empty(), "ending another session keeps my cookie");
    let next = w.call(&other, "GET", "/v1/account", Value::Null).await;
    assert_eq!(next.status, 401);
    assert_eq!(next.body["code"], "session_expired");
    assert_eq!(w.refresh(&other).await, 401, "its refresh token fails");
    assert_eq!(w.call(&mine, "GET", "/v1/account", Value::Null).await.status, 200);
    assert_eq!(w.refresh(&mine).await, 200);
    assert_eq!(w.sessions(&mine).await.len(), 1);
    // Ended once: a second DELETE finds nothing.
    let again = w
        .call(
            &mine,
            "DELETE",
            &format!("/v1/account/sessions/{other_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn another_users_session_id_is_not_found_and_keeps_working() {
    let w = World::new().await;
    let mut kari = Browser::new("192.0.2.1", FIREFOX);
    let mut ola = Browser::new("192.0.2.2", CHROME);
    w.log_in(&mut kari, "kari", KARI_MOBILE).await;
    w.log_in(&mut ola, "ola", OLA_MOBILE).await;
    let ola_id = current_id(&w.sessions(&ola).await);

    for id in [ola_id.as_str(), "AAAAAAAAAAAAAAAAAAAAAA", "not-an-id", "..%2F..%2Fx"] {
        let answer = w
            .call(&kari, "DELETE", &format!("/v1/account/sessions/{id}"), Value::Null)
            .await;
        assert_eq!(answer.status, 404, "{id}: {}", answer.body);
        assert_eq!(answer.body["code"], "not_found", "{id}");
    }
    assert_eq!(w.call(&ola, "GET", "/v1/account", Value::Null).await.status, 200);
    assert_eq!(w.refresh(&ola).await, 200);
    // Without a session nothing is listed or ended.
    let anonymous = Browser::new("192.0.2.3", FIREFOX);
    for (method, path) in [
        ("GET", "/v1/account/sessions".to_owned()),
        ("DELETE", format!("/v1/account/sessions/{ola_id}")),
        ("POST", "/v1/account/sessions/revoke-others".to_owned()),
        ("GET", "/v1/account/security-events".to_owned()),
    ] {
        assert_eq!(
            w.call(&anonymous, method, &path, Value::Null).await.status,
            401,
            "{path}"
        );
    }
    let not_me = w
        .call(
            &anonymous,
            "POST",
            "/v1/account/not-me",
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(not_me.status, 401);
}

#[tokio::test]
async fn ending_all_others_keeps_only_the_current_session() {
    let w = World::new().await;
    let mut mine = Browser::new("192.0.2.1", FIREFOX);
    let mut a = Browser::new("192.0.2.2", CHROME);
    let mut b = Browser::new("192.0.2.3", CHROME);
    let mut ola = Browser::new("192.0.2.4", CHROME);
    for browser in [&mut mine, &mut a, &mut b] {
        w.log_in(browser, "kari", KARI_MOBILE).await;
    }
    w.log_in(&mut ola, "ola", OLA_MOBILE).await;
    let answer = w
        .call(&mine, "POST", "/v1/account/sessions/revoke-others", Value::Null)
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["sessions_ended"], 2);
    for other in [&a, &b] {
        assert_eq!(w.call(other, "GET", "/v1/account", Value::Null).await.status, 401);
        assert_eq!(w.refresh(other).await, 401);
    }
    assert_eq!(w.sessions(&mine).await.len(), 1);
    assert_eq!(
        w.call(&ola, "GET", "/v1/account", Value::Null).await.status,
        200,
        "another user's session"
    );
}

#[tokio::test]
async fn the_history_shows_a_failed_login_newest_first_and_pages_with_a_cursor() {
    let w = World::new().await;
    let mut kari = Browser::new("192.0.2.1", FIREFOX);
    w.log_in(&mut kari, "kari", KARI_MOBILE).await;
    w.t.clock.advance(5);
    let wrong = w
        .call(
            &Browser::new("203.0.113.50", CHROME),
            "POST",
            "/v1/auth/login",
            json!({ "username": "kari", "password": "feil passord her" }),
        )
        .await;
    assert_eq!(wrong.status, 401);
    let first = w.call(&kari, "GET", "/v1/account/security-events", Value::Null).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let events = first.body["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events[0]["event"], "login_failed", "newest first: {events:?}");
    assert_eq!(events[0]["network"], "203.0.113.0/24");
    assert!(events.iter().any(|e| e["event"] == "login_completed"));
    assert!(
        events
            .iter()
            .all(|e| e["event"] != "code_sent" && e["event"] != "login_password_ok"),
        "bookkeeping stays in the operators' trail: {events:?}"
    );

    // Enough events for several pages: logins and failures, one second apart.
    for _ in 0..7 {
        w.t.clock.advance(1);
        w.call(
            &Browser::new("203.0.113.50", CHROME),
            "POST",
            "/v1/auth/login",
            json!({ "username": "kari", "password": "feil passord her" }),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/account/security-events?limit=3&cursor={c}"),
            None => "/v1/account/security-events?limit=3".to_owned(),
        };
        let page = w.call(&kari, "GET", &path, Value::Null).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let events = page.body["events"].as_array().cloned().unwrap_or_default();
        assert!(events.len() <= 3);
        seen.extend(events);
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 20, "paging never ends");
    }
    assert!(pages >= 3, "{pages} pages");
    let times: Vec<&str> = seen.iter().filter_map(|e| e["at"].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first across pages");
    let everything = w
        .call(&kari, "GET", "/v1/account/security-events?limit=50", Value::Null)
        .await;
    assert_eq!(
        everything.body["events"].as_array().map(Vec::len),
        Some(seen.len()),
        "the pages hold every event once"
    );
}

#[tokio::test]
async fn a_tampered_or_foreign_cursor_is_refused_never_read() {
    let w = World::new().await;
    let mut kari = Browser::new("192.0.2.1", FIREFOX);
    let mut ola = Browser::new("192.0.2.2", CHROME);
    for _ in 0..3 {
        w.log_in(&mut kari, "kari", KARI_MOBILE).await;
        w.log_in(&mut ola, "ola", OLA_MOBILE).await;
        w.t.clock.advance(1);
    }
    let ola_page = w
        .call(&ola, "GET", "/v1/account/security-events?limit=1", Value::Null)
        .await;
    let ola_cursor = ola_page.body["next_cursor"].as_str().unwrap().to_owned();
    let kari_page = w
        .call(&kari, "GET", "/v1/account/security-events?limit=1", Value::Null)
        .await;
    let kari_cursor = kari_page.body["next_cursor"].as_str().unwrap().to_owned();
    let (position, tag) = kari_cursor.split_once('.').unwrap();
    // Kari's own position moved to a later time with her tag kept: the tag no longer matches.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let sk = String::from_utf8(b64.decode(position).unwrap()).unwrap();
    let moved = format!("{}.{tag}", b64.encode(format!("999999999999{}", &sk[12..])));
    let flipped_tag = format!("{position}.{}", tag.chars().rev().collect::<String>());
    for bad in [
        ola_cursor.as_str(),
        moved.as_str(),
        flipped_tag.as_str(),
        "",
        "garbage",
        "a.b",
        &"A".repeat(300),
        "QUNDT1VOVCNrYXJp.00000000000000000000000000000000",
    ] {
        let answer = w
            .call(
                &kari,
                "GET",
                &format!("/v1/account/security-events?cursor={bad}"),
                Value::Null,
            )
            .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert_eq!(answer.body["code"], "validation_failed", "{bad}");
        assert!(answer.body.get("events").is_none());
    }
    for bad in ["limit=0", "limit=51", "limit=x", "limit=1&limit=2"] {
        let answer = w
            .call(&kari, "GET", &format!("/v1/account/security-events?{bad}"), Value::Null)
            .await;
        assert_eq!(answer.status, 400, "{bad}");
    }
    let own = w
        .call(
            &kari,
            "GET",
            &format!("/v1/account/security-events?cursor={kari_cursor}"),
            Value::Null,
        )
        .await;
    assert_eq!(own.status, 200);
    // Only Kari's events, whatever the cursor: Ola's logins came from 192.0.2.2.
    let text = own.body.to_string();
    assert!(!text.contains("ola"), "{text}");
}

#[tokio::test]
async fn history_events_expire_after_90_days() {
    let w = World::new().await;
    let mut kari = Browser::new("192.0.2.1", FIREFOX);
    w.log_in(&mut kari, "kari", KARI_MOBILE).await;
    let stored = w.t.store.query("AUDIT#kari", "", w.t.app.now()).await.unwrap();
    assert!(!stored.is_empty());
    for item in &stored {
        assert_eq!(
            item.expires_at,
            Some(w.t.app.now() + portal_core::audit::RETENTION),
            "{}",
            item.sk
        );
    }
    assert_eq!(portal_core::audit::RETENTION, 90 * 24 * 3600);
    w.t.clock.advance(portal_core::audit::RETENTION);
    assert!(w
        .t
        .store
        .query("AUDIT#kari", "", w.t.app.now())
        .await
        .unwrap()
        .is_empty());
}

/// Registers and activates a card for `user`, as the callback and the activation worker do;
/// returns the card and the worker, whose capturing gateway hears what it publishes.
async fn register_card(t: &TestApp, user: &Username) -> (CardKey, Activator, Arc<CapturingGateway>) {
    let cert = AcceptedCertificate {
        serial: CertificateSerial::parse("3B9DA260CE3585ECD14B").unwrap(),
        issuer_id: IssuerId::from_issuer_der(b"test issuer"),
        subject: "CN=Kari".into(),
        issuer: "CN=Test CA".into(),
        not_after: t.app.now() + 86_400 * 365,
    };
    t.app.register_serial(user, &cert, Some("sub"), None).await.unwrap();
    let card = CardKey::new(cert.issuer_id.clone(), cert.serial.clone());
    let gateway = Arc::new(CapturingGateway::default());
    let policy = ActivationPolicy {
        attempts_per_call: 1,
        retry_delay: std::time::Duration::ZERO,
        ..ActivationPolicy::default()
    };
    let activator = Activator::new(t.app.clone(), gateway.clone(), policy, false);
    activator.process(&card, Trigger::Event).await.unwrap();
    assert!(t.app.active_for_gateway(&card).await.unwrap().is_some());
    (card, activator, gateway)
}

#[tokio::test]
async fn not_me_with_a_wrong_password_changes_nothing() {
    let w = World::new().await;
    let kari_name = Username::parse("kari").unwrap();
    let (card, ..) = register_card(&w.t, &kari_name).await;
    let mut kari = Browser::new("192.0.2.1", FIREFOX);
    w.log_in(&mut kari, "kari", KARI_MOBILE).await;
    w.t.clock.advance(1);
    let sms_before = w.t.sms.sent().len();
    let answer = w
        .call(
            &kari,
            "POST",
            "/v1/account/not-me",
            json!({ "password": "feil passord her" }),
        )
        .await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.body["code"], "wrong_password");
    assert_eq!(w.call(&kari, "GET", "/v1/account", Value::Null).await.status, 200);
    assert!(w.t.app.active_for_gateway(&card).await.unwrap().is_some());
    assert!(w.t.app.open_incidents().await.unwrap().is_empty());
    assert_eq!(w.t.sms.sent().len(), sms_before);
    // It counts as a failed login, in the history too.
    let history = w.call(&kari, "GET", "/v1/account/security-events", Value::Null).await;
    assert_eq!(history.body["events"][0]["event"], "login_failed");
    assert_eq!(history.body["events"][0]["detail"]["during"], "not_me");
}

#[tokio::test]
async fn not_me_ends_every_session_revokes_the_card_and_opens_an_incident() {
    let w = World::new().await;
    let kari_name = Username::parse("kari").unwrap();
    let (card, activator, gateway) = register_card(&w.t, &kari_name).await;
    let mut kari = Browser::new("192.0.2.1", FIREFOX);
    let mut intruder = Browser::new("203.0.113.9", CHROME);
    let mut ola = Browser::new("192.0.2.9", CHROME);
    w.log_in(&mut kari, "kari", KARI_MOBILE).await;
    w.log_in(&mut intruder, "kari", KARI_MOBILE).await;
    w.log_in(&mut ola, "ola", OLA_MOBILE).await;

    let answer = w
        .call(&kari, "POST", "/v1/account/not-me", json!({ "password": PASSWORD }))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["sessions_ended"], 2);
    assert_eq!(answer.body["card_revoked"], "3B9DA260CE3585ECD14B");
    assert!(
        answer
            .set_cookies
            .iter()
            .any(|c| c.starts_with("__Host-hk_refresh=;") && c.contains("Max-Age=0")),
        "{:?}",
        answer.set_cookies
    );
    for browser in [&kari, &intruder] {
        assert_eq!(w.call(browser, "GET", "/v1/account", Value::Null).await.status, 401);
        assert_eq!(w.refresh(browser).await, 401);
    }
    assert_eq!(w.call(&ola, "GET", "/v1/account", Value::Null).await.status, 200);
    assert!(
        w.t.app.active_for_gateway(&card).await.unwrap().is_none(),
        "the gateway lookup says not active"
    );
    // The gateway hears it through the existing event path (the table's stream locally: the
    // worker the stream triggers).
    assert_eq!(
        activator.process(&card, Trigger::Event).await.unwrap(),
        Outcome::RevocationPublished
    );
    assert!(gateway
        .events()
        .iter()
        .any(|e| e.event == GatewayEventKind::Revoked && e.serial_number == "3B9DA260CE3585ECD14B"));
    let account = w.t.app.account(&kari_name).await.unwrap();
    assert!(account.password_change_required);
    let incidents = w.t.app.open_incidents().await.unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].username, kari_name);
    assert_eq!(incidents[0].card_revoked.as_deref(), Some("3B9DA260CE3585ECD14B"));
    let notice = w.texts_to(KARI_MOBILE).pop().unwrap();
    assert!(
        notice.contains("127.0.0.1:8080/ikke-meg") && !has_code(&notice),
        "{notice}"
    );
    let trail = w.t.app.repo.audit_trail(&kari_name, w.t.app.now()).await.unwrap();
    assert!(trail
        .iter()
        .any(|e| e.event == portal_core::audit::AuditKind::NotMeReported));

    // A second report updates the one incident; the operator closes it.
    let mut again = Browser::new("192.0.2.1", FIREFOX);
    again.device = kari.device.clone();
    w.t.app
        .update_account(&kari_name, |a| a.password_change_required = false)
        .await
        .unwrap();
    w.log_in(&mut again, "kari", KARI_MOBILE).await;
    let second = w
        .call(&again, "POST", "/v1/account/not-me", json!({ "password": PASSWORD }))
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body["card_revoked"], Value::Null);
    let incidents = w.t.app.open_incidents().await.unwrap();
    assert_eq!((incidents.len(), incidents[0].reports), (1, 2));
    assert!(w.t.app.close_incident(&kari_name).await.unwrap());
    assert!(!w.t.app.close_incident(&kari_name).await.unwrap());
    assert!(w.t.app.open_incidents().await.unwrap().is_empty());
}

#[tokio::test]
async fn after_not_me_the_next_login_must_change_the_password() {
    let w = World::new().await;
    let mut kari = Browser::new("192.0.2.1", FIREFOX);
    w.log_in(&mut kari, "kari", KARI_MOBILE).await;
    w.call(&kari, "POST", "/v1/account/not-me", json!({ "password": PASSWORD }))
        .await;
    let mut next = Browser::new("192.0.2.1", FIREFOX);
    next.device = kari.device.clone();
    w.log_in(&mut next, "kari", KARI_MOBILE).await;
    let account = w.call(&next, "GET", "/v1/account", Value::Null).await;
    assert_eq!(account.status, 403);
    assert_eq!(account.body["code"], "password_change_required");
}

#[tokio::test]
async fn a_login_from_a_new_browser_is_texted_and_a_known_one_is_not() {
    let w = World::new().await;
    let mut laptop = Browser::new("192.0.2.1", FIREFOX);
    w.log_in(&mut laptop, "kari", KARI_MOBILE).await;
    let device_cookie = laptop.device.clone().expect("a device cookie");
    assert!(device_cookie.len() > "hk_device=".len() + 40);
    let notices = |w: &World| {
        w.texts_to(KARI_MOBILE)
            .into_iter()
            .filter(|t| t.contains("/ikke-meg"))
            .count()
    };
    assert_eq!(notices(&w), 0, "the account's first browser is the baseline");
    // The same browser again (cookie kept): nothing.
    let mut same = Browser::new("198.51.100.3", FIREFOX);
    same.device = Some(device_cookie.clone());
    w.log_in(&mut same, "kari", KARI_MOBILE).await;
    assert_eq!(notices(&w), 0);
    assert_eq!(same.device.as_deref(), Some(device_cookie.as_str()), "the id is kept");
    // Another browser: one notice, in Norwegian, with no code and no login link.
    let mut other = Browser::new("203.0.113.9", CHROME);
    w.log_in(&mut other, "kari", KARI_MOBILE).await;
    assert_eq!(notices(&w), 1);
    let text = w.texts_to(KARI_MOBILE).pop().unwrap();
    assert!(text.starts_with("Ny innlogging"), "{text}");
    assert!(!text.contains("://") && !has_code(&text), "{text}");
    // A made-up id is a new browser too; a malformed one is replaced by a fresh id.
    let mut made_up = Browser::new("203.0.113.10", CHROME);
    made_up.device = Some(format!("hk_device={}", "A".repeat(43)));
    w.log_in(&mut made_up, "kari", KARI_MOBILE).await;
    assert_eq!(notices(&w), 2);
    let mut malformed = Browser::new("203.0.113.11", CHROME);
    malformed.device = Some("hk_device=../../x".into());
    w.log_in(&mut malformed, "kari", KARI_MOBILE).await;
    assert_eq!(notices(&w), 3);
    assert!(malformed
        .device
        .as_deref()
        .is_some_and(|c| c.len() == "hk_device=".len() + 43));
    // Only a keyed hash of the id is stored.
    let stored = w.t.store.query("ACCOUNT#kari", "DEVICE#", w.t.app.now()).await.unwrap();
    let raw_id = device_cookie.trim_start_matches("hk_device=");
    assert!(stored
        .iter()
        .all(|i| !i.sk.contains(raw_id) && !i.data.to_string().contains(raw_id)));
    assert!(!stored
        .iter()
        .any(|i| i.sk.contains(&portal_core::security::sha256_hex(raw_id))));
}

#[tokio::test]
async fn the_device_cookie_is_http_only_and_lax() {
    let w = World::new().await;
    let mut laptop = Browser::new("192.0.2.1", FIREFOX);
    let started = w
        .call(
            &laptop,
            "POST",
            "/v1/auth/login",
            json!({ "username": "kari", "password": PASSWORD }),
        )
        .await;
    let code =
        w.t.sms
            .last_code_to(&MobileNumber::parse(KARI_MOBILE).unwrap())
            .unwrap();
    let verified = w
        .call(
            &laptop,
            "POST",
            "/v1/auth/sms/verify",
            json!({ "challenge_id": started.body["challenge_id"], "code": code.expose() }),
        )
        .await;
    let device = verified
        .set_cookies
        .iter()
        .find(|c| c.starts_with("hk_device="))
        .cloned()
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(device.contains(attribute), "{device}");
    }
    assert!(!device.contains("Secure"), "the test portal URL is http: {device}");
    laptop.keep_cookies(&verified);
    assert!(laptop.refresh.is_some());
}

/// "One query each, no scan": the history page is one Query of the caller's audit partition,
/// the sessions list one Query of the session index plus one batch read of the sessions.
#[tokio::test]
async fn listing_sessions_and_events_is_one_query_each() {
    let store =
        portal_testkit::CountingStore::new(Arc::new(portal_core::store::sqlite::SqliteStore::in_memory().unwrap()));
    let t = TestApp::on(store.clone());
    let kari = t.account("kari", PASSWORD, KARI_MOBILE).await;
    let sessions: Vec<_> = open_sessions(&t, &kari, 3).await;
    for _ in 0..30 {
        t.app
            .repo
            .audit(
                &kari,
                portal_core::audit::AuditKind::LoginFailed,
                None,
                json!({}),
                t.app.now(),
            )
            .await;
    }
    let caller = t.app.authenticate(&sessions[0].access_token).await.unwrap();
    store.take_partition_keys();
    let (page, io) = store.io_of(t.app.security_events(&caller, None, Some(10))).await;
    assert_eq!(page.unwrap().events.len(), 10);
    assert_eq!((io.reads, io.writes), (1, 0), "one Query for a page of events");
    assert_eq!(
        store.take_partition_keys().into_iter().collect::<Vec<_>>(),
        vec!["AUDIT#kari".to_owned()]
    );
    let (listed, io) = store.io_of(t.app.list_sessions(&caller)).await;
    assert_eq!(listed.unwrap().len(), 3);
    assert_eq!(
        (io.reads, io.writes),
        (1 + 1, 0),
        "the index Query and one batch read of the sessions"
    );
}

async fn open_sessions(t: &TestApp, user: &Username, n: usize) -> Vec<portal_core::services::sessions::Tokens> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(t.app.open_session(user, false, None).await.unwrap());
    }
    out
}

/// "This wasn't me" from a client without the device cookie (another browser that refreshed
/// its way in, an app) must not leave the account with no known browser: the intruder's next
/// login would then be the silent baseline instead of a new browser.
#[tokio::test]
async fn after_not_me_without_a_device_cookie_the_intruders_next_login_is_still_texted() {
    let w = World::new().await;
    let mut kari = Browser::new("192.0.2.1", FIREFOX);
    w.log_in(&mut kari, "kari", KARI_MOBILE).await;
    let mut intruder = Browser::new("203.0.113.9", CHROME);
    w.log_in(&mut intruder, "kari", KARI_MOBILE).await;
    let mut reporting = kari.clone();
    reporting.device = None;
    let answer = w
        .call(
            &reporting,
            "POST",
            "/v1/account/not-me",
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let before = w.texts_to(KARI_MOBILE).len();
    let mut back = Browser::new("203.0.113.9", CHROME);
    w.log_in(&mut back, "kari", KARI_MOBILE).await;
    let texts = w.texts_to(KARI_MOBILE);
    assert!(
        texts[before..].iter().any(|t| t.starts_with("Ny innlogging")),
        "no new-browser notice after not-me: {texts:?}"
    );
}

/// A thief with the password and a session starts a card registration; the owner says "this
/// wasn't me" before the thief comes back from Buypass. The callback must not go on to
/// register the thief's card (an active serial for the gateway) after the report.
#[tokio::test]
async fn a_card_registration_started_before_not_me_cannot_finish_after_it() {
    use portal_core::buypass::flow::{CallbackFailure, CallbackQuery};
    use portal_core::domain::SessionId;
    let w = World::new().await;
    let kari_name = Username::parse("kari").unwrap();
    let mut kari = Browser::new("192.0.2.1", FIREFOX);
    w.log_in(&mut kari, "kari", KARI_MOBILE).await;
    let mut intruder = Browser::new("203.0.113.9", CHROME);
    w.log_in(&mut intruder, "kari", KARI_MOBILE).await;
    let thief_session = SessionId::parse(&current_id(&w.sessions(&intruder).await)).unwrap();
    const STATE: &str = "CCCCCCCCCCCCCCCCCCCCCC";
    w.t.insert_buypass_state_of(kari_name, Some(thief_session), STATE, "thief-browser")
        .await;
    let answer = w
        .call(&kari, "POST", "/v1/account/not-me", json!({ "password": PASSWORD }))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let buypass = portal_testkit::unreachable_buypass();
    let result =
        w.t.app
            .buypass_callback(
                &buypass,
                CallbackQuery::parse(Some(&format!("code=abc&state={STATE}"))),
                Some("thief-browser"),
                None,
            )
            .await;
    // Without the check the callback goes on to the code exchange (the provider stand-in is
    // down here) and from there to registering the card.
    assert_eq!(result.map(|_| ()), Err(CallbackFailure::StateInvalid));
}

/// An intruder with the password and an SMS code enrols an authenticator app: the account's
/// first strong factor needs no step-up. The owner, signed in by SMS, reports it with the
/// password alone (an app younger than a day does not count for the step-up of "not me", so
/// the intruder's factor cannot lock the owner out), and "not me" removes it: left in place,
/// the thief would log in again with the password and the app (no SMS to the owner), set a
/// new password at the required change and keep the account.
#[tokio::test]
async fn not_me_removes_an_authenticator_app_the_intruder_enrolled() {
    let w = World::new().await;
    let kari_name = Username::parse("kari").unwrap();
    let mut kari = Browser::new("192.0.2.1", FIREFOX);
    w.log_in(&mut kari, "kari", KARI_MOBILE).await;
    let mut intruder = Browser::new("203.0.113.9", CHROME);
    w.log_in(&mut intruder, "kari", KARI_MOBILE).await;
    let started = w
        .call(&intruder, "POST", "/v1/account/totp", json!({ "password": PASSWORD }))
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let app = portal_testkit::authenticator_app(started.body["secret"].as_str().unwrap()).unwrap();
    let code = app.generate(w.t.clock.now_for_tests() as u64).to_string();
    let confirmed = w
        .call(&intruder, "POST", "/v1/account/totp/confirm", json!({ "code": code }))
        .await;
    assert!(confirmed.status.as_u16() < 300, "{}", confirmed.body);
    assert!(w.t.app.totp_active(&kari_name).await.unwrap());
    // The owner's SMS session, the password, one click: no step-up with the intruder's app.
    w.t.clock.advance(30);
    let answer = w
        .call(&kari, "POST", "/v1/account/not-me", json!({ "password": PASSWORD }))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        !w.t.app.totp_active(&kari_name).await.unwrap(),
        "the intruder's authenticator survives not-me"
    );
    let removed =
        w.t.app
            .repo
            .audit_trail(&kari_name, w.t.app.now())
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.event == portal_core::audit::AuditKind::TotpRemoved)
            .expect("the removal is audited");
    assert_eq!(removed.detail["by"], "not_me");
    // The intruder's next login is offered SMS only (to the owner's phone), not the app.
    let mut again = Browser::new("203.0.113.9", CHROME);
    let login = w
        .call(
            &again,
            "POST",
            "/v1/auth/login",
            json!({ "username": "kari", "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.body["methods"], json!(["sms"]), "{}", login.body);
    w.log_in(&mut again, "kari", KARI_MOBILE).await;
}

/// Events of one second list newest first too (a failed login a moment after a login is the
/// first row), whatever their random part.
#[tokio::test]
async fn events_of_one_second_list_in_the_order_they_happened() {
    let t = TestApp::in_memory();
    let kari = t.account("kari", PASSWORD, KARI_MOBILE).await;
    let session = t.app.open_session(&kari, false, None).await.unwrap();
    let caller = t.app.authenticate(&session.access_token).await.unwrap();
    let now = t.app.now();
    for _ in 0..20 {
        for kind in [
            portal_core::audit::AuditKind::LoginCompleted,
            portal_core::audit::AuditKind::LoginFailed,
        ] {
            t.app.repo.audit(&kari, kind, None, json!({}), now).await;
        }
    }
    let page = t.app.security_events(&caller, None, Some(40)).await.unwrap();
    let events: Vec<String> = page
        .events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap()["event"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<&str> = std::iter::repeat_n(["login_failed", "login_completed"], 20)
        .flatten()
        .collect();
    assert_eq!(&events[..40], &expected[..], "{events:?}");
}
