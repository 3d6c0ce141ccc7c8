//! DESIGN §4–§5 rules for the certificate registry and serial activation, driven through the
//! services with a clock the tests move, a capturing SMS sender and a capturing gateway topic.

use std::sync::Arc;
use std::time::Duration;

use portal_core::activation::gateway::{CapturingGateway, GatewayEventKind};
use portal_core::activation::{ActivationPolicy, Activator, Outcome, Trigger};
use portal_core::buypass::certificate::AcceptedCertificate;
use portal_core::buypass::registry::{CardKey, RegisterError, Registered, SerialStatus};
use portal_core::domain::{CertificateSerial, IssuerId, Username};
use portal_core::i18n::Lang;
use portal_core::sms::messages::home_office_ready;
use portal_lambda::activation_events::handle_stream;
use portal_testkit::TestApp;
use serde_json::json;

const PASSWORD: &str = "korrekt hest batteri stift";
const MOBILE: &str = "+4791234567";

fn cert(serial: &str) -> AcceptedCertificate {
    AcceptedCertificate {
        serial: CertificateSerial::parse(serial).unwrap(),
        issuer_id: issuer(),
        subject: "CN=Kari Nordmann".into(),
        issuer: "CN=Buypass Test CA".into(),
        not_after: portal_testkit::START + 365 * 24 * 3600,
    }
}

fn policy() -> ActivationPolicy {
    ActivationPolicy {
        attempts_per_call: 1,
        retry_delay: Duration::ZERO,
        ..ActivationPolicy::default()
    }
}

struct World {
    t: TestApp,
    gateway: Arc<CapturingGateway>,
    activator: Activator,
    kari: Username,
}

async fn world() -> World {
    let t = TestApp::in_memory();
    let kari = t.account("kari", PASSWORD, MOBILE).await;
    let gateway = Arc::new(CapturingGateway::default());
    let activator = Activator::new(t.app.clone(), gateway.clone(), policy(), false);
    World {
        t,
        gateway,
        activator,
        kari,
    }
}

impl World {
    fn ready_sms(&self) -> usize {
        self.t
            .sms
            .sent()
            .iter()
            .filter(|(_, body)| body == home_office_ready(Lang::Nb))
            .count()
    }

    async fn status(&self, serial: &str) -> SerialStatus {
        self.t
            .app
            .certificate_record(&self::serial(serial))
            .await
            .unwrap()
            .unwrap()
            .value
            .status
    }

    async fn view(&self) -> serde_json::Value {
        serde_json::to_value(self.t.app.account_view(&self.kari).await.unwrap()).unwrap()["home_office"]["buypass"]
            .clone()
    }
}

fn issuer() -> IssuerId {
    IssuerId::from_issuer_der(b"CN=Buypass Test CA")
}

/// The card with serial `s` from the test issuer.
fn serial(s: &str) -> CardKey {
    CardKey::new(issuer(), CertificateSerial::parse(s).unwrap())
}

#[tokio::test]
async fn registration_is_pending_then_one_activation_one_event_one_sms() {
    let w = world().await;
    assert_eq!(w.view().await["status"], "not_registered");
    let registered =
        w.t.app
            .register_serial(&w.kari, &cert("0A1B2C"), None, None)
            .await
            .unwrap()
            .registered;
    assert_eq!(registered, Registered::Pending { revoked: None });
    let view = w.view().await;
    assert_eq!(view["status"], "pending");
    assert_eq!(view["serial_number"], "0A1B2C");
    assert_eq!(view["activated_at"], serde_json::Value::Null);

    w.t.clock.advance(3);
    assert_eq!(
        w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap(),
        Outcome::Activated
    );
    let view = w.view().await;
    assert_eq!(view["status"], "active");
    assert_eq!(
        view["activated_at"],
        portal_core::clock::rfc3339(portal_testkit::START + 3)
    );
    let events = w.gateway.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, GatewayEventKind::Activated);
    assert_eq!(
        (events[0].serial_number.as_str(), events[0].username.as_str()),
        ("0A1B2C", "kari")
    );
    assert_eq!(w.ready_sms(), 1);
    assert_eq!(w.t.sms.sent().last().unwrap().0, MOBILE);
}

#[tokio::test]
async fn duplicate_and_concurrent_stream_events_change_nothing_and_send_no_second_sms() {
    let w = world().await;
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    let s = serial("0A1B2C");
    let (a, b, c) = tokio::join!(
        w.activator.process(&s, Trigger::Event),
        w.activator.process(&s, Trigger::Event),
        w.activator.process(&s, Trigger::Event),
    );
    let outcomes = [a.unwrap(), b.unwrap(), c.unwrap()];
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Activated).count(),
        1,
        "{outcomes:?}"
    );
    // Replays later: nothing left to do.
    w.t.clock.advance(600);
    assert_eq!(w.activator.process(&s, Trigger::Event).await.unwrap(), Outcome::Nothing);
    assert_eq!(w.activator.sweep().await.unwrap().processed, 0);
    assert_eq!(w.gateway.events().len(), 1);
    assert_eq!(w.ready_sms(), 1);
}

#[tokio::test]
async fn a_failed_first_attempt_is_re_driven_by_the_sweep_after_its_backoff() {
    let w = world().await;
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    let s = serial("0A1B2C");
    w.gateway.fail_next(1);
    assert!(w.activator.process(&s, Trigger::Event).await.is_err());
    assert_eq!(w.ready_sms(), 0, "no SMS before the gateway knows");
    assert!(w.gateway.events().is_empty());
    // A replayed event inside the backoff is fine too, but the sweep waits for the backoff.
    w.t.clock.advance(10);
    assert_eq!(w.activator.sweep().await.unwrap().processed, 0);
    w.t.clock.advance(25);
    let report = w.activator.sweep().await.unwrap();
    assert_eq!(report.processed, 1);
    assert_eq!(w.gateway.events().len(), 1);
    assert_eq!(w.ready_sms(), 1);
    assert_eq!(w.status("0A1B2C").await, SerialStatus::Active);
    let record = w.t.app.certificate_record(&s).await.unwrap().unwrap().value;
    assert!(record.work.is_none() && record.lease.is_none() && record.user_notified);
}

#[tokio::test]
async fn an_sms_outage_does_not_repeat_the_gateway_event() {
    let w = world().await;
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    w.t.sms.set_failing(true);
    assert!(w.activator.process(&serial("0A1B2C"), Trigger::Event).await.is_err());
    w.t.sms.set_failing(false);
    w.t.clock.advance(31);
    w.activator.sweep().await.unwrap();
    assert_eq!(w.gateway.events().len(), 1);
    assert_eq!(w.ready_sms(), 1);
}

#[tokio::test]
async fn a_lost_stream_event_is_re_driven_by_the_sweep_after_two_minutes() {
    let w = world().await;
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    w.t.clock.advance(60);
    let report = w.activator.sweep().await.unwrap();
    assert_eq!(
        (report.pending, report.oldest_pending_age, report.processed),
        (1, 60, 0)
    );
    assert_eq!(
        w.status("0A1B2C").await,
        SerialStatus::Pending,
        "the stream gets its chance first"
    );
    w.t.clock.advance(61);
    let report = w.activator.sweep().await.unwrap();
    assert_eq!(
        (report.pending, report.oldest_pending_age, report.processed),
        (1, 121, 1)
    );
    assert_eq!(w.status("0A1B2C").await, SerialStatus::Active);
    assert_eq!(w.ready_sms(), 1);
    let metric: serde_json::Value = serde_json::from_str(&portal_core::activation::emf_line(&report, 1_000)).unwrap();
    assert_eq!(metric["OldestPendingActivationAge"], 121);
    assert_eq!(
        metric["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
        "OldestPendingActivationAge"
    );
    assert_eq!(w.activator.sweep().await.unwrap().pending, 0);
}

#[tokio::test]
async fn a_new_card_revokes_the_old_serial_and_the_gateway_hears_it() {
    let w = world().await;
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap();
    let registered =
        w.t.app
            .register_serial(&w.kari, &cert("0D0E0F"), None, None)
            .await
            .unwrap()
            .registered;
    assert_eq!(
        registered,
        Registered::Pending {
            revoked: Some(serial("0A1B2C"))
        }
    );
    assert_eq!(w.status("0A1B2C").await, SerialStatus::Revoked);
    assert_eq!(w.view().await["serial_number"], "0D0E0F");
    assert_eq!(
        w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap(),
        Outcome::RevocationPublished
    );
    assert_eq!(
        w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap(),
        Outcome::Nothing
    );
    w.activator.process(&serial("0D0E0F"), Trigger::Event).await.unwrap();
    let kinds: Vec<(GatewayEventKind, String)> = w
        .gateway
        .events()
        .into_iter()
        .map(|e| (e.event, e.serial_number))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (GatewayEventKind::Activated, "0A1B2C".into()),
            (GatewayEventKind::Revoked, "0A1B2C".into()),
            (GatewayEventKind::Activated, "0D0E0F".into()),
        ]
    );
    // The old card can later be registered again (it is the user's), the new one is revoked.
    let again =
        w.t.app
            .register_serial(&w.kari, &cert("0A1B2C"), None, None)
            .await
            .unwrap()
            .registered;
    assert_eq!(
        again,
        Registered::Pending {
            revoked: Some(serial("0D0E0F"))
        }
    );
}

#[tokio::test]
async fn revoking_a_never_activated_serial_tells_the_gateway_nothing() {
    let w = world().await;
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    w.t.app
        .register_serial(&w.kari, &cert("0D0E0F"), None, None)
        .await
        .unwrap();
    assert_eq!(
        w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap(),
        Outcome::Nothing
    );
    assert!(w.gateway.events().is_empty());
}

#[tokio::test]
async fn a_serial_belongs_to_one_account() {
    let w = world().await;
    let ola = w.t.account("ola", PASSWORD, "+4791234568").await;
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    assert_eq!(
        w.t.app.register_serial(&ola, &cert("0a:1b:2c"), None, None).await,
        Err(RegisterError::SerialInUse)
    );
    let ola_view = serde_json::to_value(w.t.app.account_view(&ola).await.unwrap()).unwrap();
    assert_eq!(ola_view["home_office"]["buypass"]["status"], "not_registered");
    // Racing registrations of one new serial: exactly one account gets it.
    let contested = cert("AA");
    let (a, b) = tokio::join!(
        w.t.app.register_serial(&w.kari, &contested, None, None),
        w.t.app.register_serial(&ola, &contested, None, None),
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
}

#[tokio::test]
async fn the_same_card_again_changes_nothing() {
    let w = world().await;
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap();
    assert_eq!(
        w.t.app
            .register_serial(&w.kari, &cert("0A1B2C"), None, None)
            .await
            .unwrap()
            .registered,
        Registered::Unchanged
    );
    w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap();
    assert_eq!(w.ready_sms(), 1);
}

#[tokio::test]
async fn activation_fails_for_an_account_no_longer_enabled_and_shows_failed() {
    let w = world().await;
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    // Changed behind the registry's back, by a bare write of the profile (`update_account`
    // and `set_home_office` would also revoke the card): the worker still refuses to activate.
    let now = w.t.app.now();
    let key = portal_core::store::keys::account_pk(&w.kari);
    let stored =
        w.t.app
            .repo
            .load::<portal_core::store::records::Account>(&key, portal_core::store::keys::PROFILE_SK, now)
            .await
            .unwrap()
            .unwrap();
    let mut off = stored.value.clone();
    off.home_office = false;
    w.t.app.repo.replace(&stored, &off, now).await.unwrap();
    assert_eq!(
        w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap(),
        Outcome::Failed("home_office_not_enabled")
    );
    assert_eq!(w.view().await["status"], "failed");
    assert!(w.gateway.events().is_empty());
    assert_eq!(w.ready_sms(), 0);
    // Re-enabled, the user registers the card again and it activates.
    w.t.app.set_home_office(&w.kari, true).await.unwrap();
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    assert_eq!(
        w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap(),
        Outcome::Activated
    );
    // Registration itself refuses an account without the flag.
    w.t.app.set_home_office(&w.kari, false).await.unwrap();
    assert_eq!(
        w.t.app.register_serial(&w.kari, &cert("0D0E0F"), None, None).await,
        Err(RegisterError::HomeOfficeNotEnabled)
    );
}

async fn active_card(w: &World) -> CardKey {
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap();
    assert!(w.t.app.active_for_gateway(&serial("0A1B2C")).await.unwrap().is_some());
    serial("0A1B2C")
}

impl World {
    /// `card` was revoked for `reason`: the gateway no longer finds it, processing publishes the
    /// revocation, and the audit trail says why.
    async fn revocation_is_published(&self, card: &CardKey, reason: &str) {
        assert!(self.t.app.active_for_gateway(card).await.unwrap().is_none());
        assert_eq!(
            self.activator.process(card, Trigger::Event).await.unwrap(),
            Outcome::RevocationPublished
        );
        let last = self.gateway.events().last().cloned().unwrap();
        assert_eq!(
            (last.event, last.serial_number.as_str()),
            (GatewayEventKind::Revoked, card.serial.as_str())
        );
        let trail = self
            .t
            .app
            .repo
            .audit_trail(&self.kari, self.t.clock.now_for_tests())
            .await
            .unwrap();
        assert!(
            trail
                .iter()
                .any(|e| e.event == portal_core::audit::AuditKind::SerialRevoked && e.detail["reason"] == reason),
            "no revocation for {reason} in {trail:?}"
        );
    }

    /// Allowed again, the account has no card until the user registers one again.
    async fn has_no_card(&self, old: &CardKey) {
        assert!(self.t.app.active_for_gateway(old).await.unwrap().is_none());
        assert_eq!(self.view().await["status"], "not_registered");
    }
}

#[tokio::test]
async fn disabling_the_account_revokes_its_card_and_the_gateway_hears_it() {
    let w = world().await;
    let card = active_card(&w).await;
    let updated = w.t.app.set_disabled(&w.kari, true).await.unwrap();
    assert_eq!(updated.revoked_serial, Some(card.clone()));
    assert_eq!(w.status("0A1B2C").await, SerialStatus::Revoked);
    w.revocation_is_published(&card, "account_disabled").await;
    let updated = w.t.app.set_disabled(&w.kari, false).await.unwrap();
    assert_eq!(updated.revoked_serial, None);
    w.has_no_card(&card).await;
}

#[tokio::test]
async fn switching_off_home_office_revokes_the_card_and_the_gateway_hears_it() {
    let w = world().await;
    let card = active_card(&w).await;
    let updated = w.t.app.set_home_office(&w.kari, false).await.unwrap();
    assert_eq!(updated.revoked_serial, Some(card.clone()));
    w.revocation_is_published(&card, "home_office_disabled").await;
    w.t.app.set_home_office(&w.kari, true).await.unwrap();
    w.has_no_card(&card).await;
}

#[tokio::test]
async fn the_gateway_finds_an_active_card_only_while_its_account_may_use_it() {
    // The lookup reads only the card's record, so every account change after which the card
    // may not be used must revoke it in the same write; even a bare `update_account` does.
    let w = world().await;
    type Change = fn(&mut portal_core::store::records::Account);
    let changes: [(&str, Change); 3] = [
        ("disabled account", |a| a.disabled = true),
        ("home office off", |a| a.home_office = false),
        ("no longer the account's card", |a| a.buypass_serial = None),
    ];
    for (what, change) in changes {
        let card = active_card(&w).await;
        w.t.app.update_account(&w.kari, change).await.unwrap();
        assert!(w.t.app.active_for_gateway(&card).await.unwrap().is_none(), "{what}");
        let record = w.t.app.certificate_record(&card).await.unwrap().unwrap().value;
        assert_eq!(record.status, SerialStatus::Revoked, "{what}: revoked, not only hidden");
        // Undone, the card stays revoked: the user registers it again.
        w.t.app
            .update_account(&w.kari, |a| {
                a.disabled = false;
                a.home_office = true;
            })
            .await
            .unwrap();
        assert!(w.t.app.active_for_gateway(&card).await.unwrap().is_none(), "{what}");
    }
    // A change that leaves the card usable leaves it active.
    let card = active_card(&w).await;
    w.t.app
        .update_account(&w.kari, |a| a.name = "Kari N.".into())
        .await
        .unwrap();
    assert!(w.t.app.active_for_gateway(&card).await.unwrap().is_some());
    // The certificate's own validity ends it too.
    w.t.clock.set(cert("0A1B2C").not_after);
    assert!(
        w.t.app.active_for_gateway(&card).await.unwrap().is_none(),
        "certificate expired"
    );
}

#[tokio::test]
async fn operator_revocation_publishes_and_detaches_the_card() {
    let w = world().await;
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap();
    assert!(w.t.app.revoke_serial(&serial("0A1B2C"), "lost card").await.unwrap());
    assert!(!w.t.app.revoke_serial(&serial("0A1B2C"), "again").await.unwrap());
    w.activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap();
    assert_eq!(w.gateway.events().last().unwrap().event, GatewayEventKind::Revoked);
    assert_eq!(w.view().await["status"], "not_registered");
}

#[tokio::test]
async fn stream_batch_reports_only_failed_records_and_skips_foreign_items() {
    let w = world().await;
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    let sk = serial("0A1B2C").sk();
    let record = |seq: &str, pk: &str| {
        json!({
            "eventID": format!("id-{seq}"),
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "awsRegion": "eu-north-1",
            "dynamodb": {
                "Keys": { "pk": { "S": pk }, "sk": { "S": sk } },
                "SequenceNumber": seq,
                "SizeBytes": 10,
                "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        })
    };
    let event: aws_lambda_events::dynamodb::Event = serde_json::from_value(json!({
        "Records": [record("100", "ACCOUNT#kari"), record("101", "SERIAL#0A1B2C"), record("102", "SERIAL#0A1B2C")]
    }))
    .unwrap();
    w.gateway.fail_next(1);
    let response = handle_stream(&w.activator, event.clone()).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    // 101 failed (topic down); 102 found the record backing off with no lease and went on.
    assert_eq!(failed, vec![Some("101".to_owned())]);
    assert_eq!(w.ready_sms(), 1);
    let response = handle_stream(&w.activator, event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(w.ready_sms(), 1);
    assert_eq!(w.gateway.events().len(), 1);
}

/// The gateway hears "activated", and before the activator records that it did, an operator
/// revokes the card: the revocation must still reach the gateway.
#[tokio::test]
async fn a_revocation_racing_the_activation_event_still_reaches_the_gateway() {
    use portal_core::activation::gateway::{GatewayError, GatewayEvent, GatewayEvents};

    struct RevokesOnActivation {
        app: portal_core::app::SharedApp,
        events: std::sync::Mutex<Vec<GatewayEvent>>,
    }

    #[async_trait::async_trait]
    impl GatewayEvents for RevokesOnActivation {
        async fn publish(&self, event: &GatewayEvent) -> Result<(), GatewayError> {
            if let Ok(mut events) = self.events.lock() {
                events.push(event.clone());
            }
            if event.event == GatewayEventKind::Activated {
                self.app.revoke_serial(&serial("0A1B2C"), "lost card").await.unwrap();
            }
            Ok(())
        }
    }

    let w = world().await;
    let gateway = Arc::new(RevokesOnActivation {
        app: w.t.app.clone(),
        events: Default::default(),
    });
    let activator = Activator::new(w.t.app.clone(), gateway.clone(), policy(), false);
    w.t.app
        .register_serial(&w.kari, &cert("0A1B2C"), None, None)
        .await
        .unwrap();
    activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap();
    activator.process(&serial("0A1B2C"), Trigger::Event).await.unwrap();
    let kinds: Vec<_> = gateway.events.lock().unwrap().iter().map(|e| e.event).collect();
    assert_eq!(kinds, [GatewayEventKind::Activated, GatewayEventKind::Revoked]);
    assert_eq!(w.status("0A1B2C").await, SerialStatus::Revoked);
}

/// Data written before account changes revoked the card in the same write: a card left
/// active for a disabled account. `portal-admin repair-cards` finds and revokes it, and
/// leaves a card its account may still use alone.
#[tokio::test]
async fn repair_revokes_cards_left_active_for_accounts_that_may_not_use_them() {
    let w = world().await;
    let card = active_card(&w).await;
    // The old two-step disable whose second step failed: the profile alone, by a bare write.
    let now = w.t.app.now();
    let key = portal_core::store::keys::account_pk(&w.kari);
    let stored =
        w.t.app
            .repo
            .load::<portal_core::store::records::Account>(&key, portal_core::store::keys::PROFILE_SK, now)
            .await
            .unwrap()
            .unwrap();
    let mut disabled = stored.value.clone();
    disabled.disabled = true;
    w.t.app.repo.replace(&stored, &disabled, now).await.unwrap();
    assert!(
        w.t.app.active_for_gateway(&card).await.unwrap().is_some(),
        "the lookup trusts the record"
    );
    assert_eq!(w.t.app.repair_active_cards().await.unwrap(), vec![card.clone()]);
    assert!(w.t.app.active_for_gateway(&card).await.unwrap().is_none());
    assert!(
        w.t.app.repair_active_cards().await.unwrap().is_empty(),
        "nothing left to repair"
    );
    // An account that may use its card keeps it.
    w.t.app.set_disabled(&w.kari, false).await.unwrap();
    let card = active_card(&w).await;
    assert!(w.t.app.repair_active_cards().await.unwrap().is_empty());
    assert!(w.t.app.active_for_gateway(&card).await.unwrap().is_some());
}
