//! After the load: the store holds exactly the sessions, audit events and SMS the answers imply.

use std::sync::Arc;

use anyhow::Result;
use e2e::Portal;
use portal_core::audit::{AuditEvent, AuditKind};
use portal_core::domain::Username;
use portal_core::store::keys::account_pk;
use portal_core::store::records::Repo;
use portal_core::store::ItemStore;

use crate::attacker::{Attack, VICTIM, VICTIM_MOBILE};
use crate::client::Record;
use crate::limits::Limits;
use crate::phases::{rounds_on, user};
use crate::Args;

/// The store the portal writes to, opened beside it.
pub(crate) async fn open_store(portal: &Portal) -> Result<Arc<dyn ItemStore>> {
    match portal.aws() {
        None => Ok(Arc::new(portal_core::store::sqlite::SqliteStore::open(
            &portal.data_dir.join("portal.db"),
        )?)),
        Some(aws) => {
            let config = portal_core::aws::loader()
                .endpoint_url(&aws.endpoint)
                .region(aws_config::Region::new("eu-north-1"))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "testing", "testing", None, None, "load",
                ))
                .load()
                .await;
            Ok(Arc::new(portal_core::store::dynamodb::DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&config),
                aws.table.clone(),
            )))
        }
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

pub(crate) async fn sessions_of(store: &Arc<dyn ItemStore>, username: &str) -> Result<usize> {
    let name = Username::parse(username)?;
    Ok(store.query(&account_pk(&name), "SESSION#", now()).await?.len())
}

pub(crate) async fn audit_of(store: &Arc<dyn ItemStore>, username: &str) -> Result<Vec<AuditEvent>> {
    let name = Username::parse(username)?;
    Ok(Repo::new(store.clone()).audit_trail(&name, now()).await?)
}

pub(crate) fn count(events: &[AuditEvent], kind: AuditKind) -> usize {
    events.iter().filter(|e| e.event == kind).count()
}

/// After the load: exactly the records the answers imply, nothing lost, nothing twice.
pub(crate) async fn check_records(portal: &Portal, args: &Args, attack: &Attack, record: &Record) -> Result<()> {
    let limits = Limits::of_policy();
    let store = open_store(portal).await?;
    let rounds = rounds_on(portal, args);
    for i in 0..args.users {
        let (name, mobile) = user(i);
        let sessions = sessions_of(&store, &name).await?;
        record.check(sessions == rounds, || {
            format!("{name}: {sessions} sessions stored, {rounds} opened")
        });
        let events = audit_of(&store, &name).await?;
        for (kind, expected) in [
            (AuditKind::LoginPasswordOk, rounds),
            (AuditKind::CodeSent, rounds),
            (AuditKind::LoginCompleted, rounds),
            // Refreshes are routine and not audited (issue 18).
            (AuditKind::SessionRefreshed, 0),
            (AuditKind::LoginFailed, 0),
            (AuditKind::CodeFailed, 0),
        ] {
            let n = count(&events, kind);
            record.check(n == expected, || {
                format!("{name}: {n} {kind:?} audit events, expected {expected}")
            });
        }
        // A code per login, and a new-browser notice (issue 16) for every login after the first:
        // the load clients keep no device cookie, so each later login is a browser new to the
        // account (the first is the account's baseline and texts nothing).
        let expected = rounds + rounds.saturating_sub(1);
        let sms = portal.sms_count_to(&mobile).await?;
        record.check(sms == expected, || {
            format!("{name}: {sms} SMS sent, expected {expected}")
        });
    }
    let sessions = sessions_of(&store, VICTIM).await?;
    record.check(sessions == 0, || {
        format!("the brute-forced account has {sessions} sessions")
    });
    let events = audit_of(&store, VICTIM).await?;
    let answered_wrong: usize = attack.evaluated_codes.values().sum();
    // Every wrong code the portal compared is one CodeFailed event: those answered 400, and
    // those that reached the hourly limit (answered 429 as they locked code entry).
    let compared = count(&events, AuditKind::CodeFailed);
    record.check(compared <= limits.codes_per_account_hour, || {
        format!(
            "victim: {compared} wrong codes compared within the hour (limit {})",
            limits.codes_per_account_hour
        )
    });
    record.check(
        compared >= answered_wrong && compared <= answered_wrong + attack.locked_answers,
        || {
            format!(
                "victim: {compared} CodeFailed events for {answered_wrong} invalid_code and {} code_entry_locked answers",
                attack.locked_answers
            )
        },
    );
    for (kind, expected) in [
        (AuditKind::LoginFailed, attack.victim_password_failures),
        (AuditKind::LoginPasswordOk, attack.victim_password_ok),
        (AuditKind::CodeSent, attack.victim_logins),
        (AuditKind::CodeLocked, 1),
        (AuditKind::LoginCompleted, 0),
    ] {
        let n = count(&events, kind);
        record.check(n == expected, || {
            format!("victim: {n} {kind:?} audit events, expected {expected}")
        });
    }
    let sms = portal.sms_count_to(VICTIM_MOBILE).await?;
    record.check(sms == attack.victim_logins, || {
        format!("victim: {sms} SMS sent for {} logins", attack.victim_logins)
    });
    Ok(())
}
