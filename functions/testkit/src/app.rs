//! Building blocks for tests of this crate and of the crates above it: an app on an in-memory
//! (or any) store with a movable clock and an SMS sender that remembers what it sent.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use portal_core::app::{App, AppParts, SharedApp};
use portal_core::clock::ManualClock;
use portal_core::clock::UnixTime;
use portal_core::config::{Policy, Settings};
use portal_core::domain::{MobileNumber, OneTimeCode, Password, Username};
use portal_core::security::passwords::HashParams;
use portal_core::services::admin::NewAccount;
use portal_core::sms::{SmsError, SmsReceipt, SmsSender};
use portal_core::store::sqlite::SqliteStore;
use portal_core::store::{Item, ItemStore, Key, Page, PageRequest, StoreError, WriteOp};

/// Cheap argon2 parameters so rule tests do not spend their time hashing.
pub const FAST_HASH: HashParams = HashParams {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

/// Remembers every SMS; can be told to fail, like a provider outage.
#[derive(Default)]
pub struct CapturingSms {
    sent: Mutex<Vec<(String, String)>>,
    /// The message id of each sent message, in the order of `sent`.
    ids: Mutex<Vec<String>>,
    failing: std::sync::atomic::AtomicBool,
}

impl CapturingSms {
    pub fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The six-digit code in the newest message to `to`.
    pub fn last_code_to(&self, to: &MobileNumber) -> Option<OneTimeCode> {
        self.sent()
            .iter()
            .rev()
            .find(|(dest, _)| dest == to.as_e164())
            .and_then(|(_, body)| extract_code(body))
    }

    /// The provider message id of the newest message to `to`.
    pub fn last_message_id_to(&self, to: &MobileNumber) -> Option<String> {
        let sent = self.sent();
        let ids = self.ids.lock().map(|i| i.clone()).unwrap_or_default();
        sent.iter()
            .zip(ids)
            .rev()
            .find(|((dest, _), _)| dest == to.as_e164())
            .map(|(_, id)| id)
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The first run of exactly six digits in an SMS text.
pub fn extract_code(body: &str) -> Option<OneTimeCode> {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == OneTimeCode::DIGITS)
        .and_then(|run| OneTimeCode::parse(run).ok())
}

#[async_trait]
impl SmsSender for CapturingSms {
    async fn publish(&self, to: &MobileNumber, body: &str) -> Result<SmsReceipt, SmsError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SmsError::Unavailable("provider outage (test)".into()));
        }
        let id = format!("test-{}", portal_core::security::random_token(9));
        if let (Ok(mut sent), Ok(mut ids)) = (self.sent.lock(), self.ids.lock()) {
            sent.push((to.as_e164().to_owned(), body.to_owned()));
            ids.push(id.clone());
        }
        Ok(SmsReceipt { message_id: Some(id) })
    }
}

/// How much storage I/O something cost: what its timing mostly depends on.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoreIo {
    /// Gets and queries.
    pub reads: usize,
    /// Write operations (each put or delete of a transaction).
    pub writes: usize,
    /// Transactions (one round trip each, however many writes they hold).
    pub transactions: usize,
}

/// A store that counts the calls made to it, for tests that two paths (say, a known and an
/// unknown username) cost the same.
pub struct CountingStore {
    inner: Arc<dyn ItemStore>,
    reads: std::sync::atomic::AtomicUsize,
    writes: std::sync::atomic::AtomicUsize,
    transactions: std::sync::atomic::AtomicUsize,
    /// Every partition key read or written (for the IAM `dynamodb:LeadingKeys` test).
    partition_keys: Mutex<std::collections::BTreeSet<String>>,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ItemStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            reads: Default::default(),
            writes: Default::default(),
            transactions: Default::default(),
            partition_keys: Mutex::default(),
        })
    }

    /// The partition keys touched since the last call (and forgets them).
    pub fn take_partition_keys(&self) -> std::collections::BTreeSet<String> {
        self.partition_keys
            .lock()
            .map(|mut keys| std::mem::take(&mut *keys))
            .unwrap_or_default()
    }

    fn touched(&self, pk: &str) {
        if let Ok(mut keys) = self.partition_keys.lock() {
            keys.insert(pk.to_owned());
        }
    }

    /// The I/O so far.
    pub fn io(&self) -> StoreIo {
        use std::sync::atomic::Ordering::SeqCst;
        StoreIo {
            reads: self.reads.load(SeqCst),
            writes: self.writes.load(SeqCst),
            transactions: self.transactions.load(SeqCst),
        }
    }

    /// The I/O `f` causes.
    pub async fn io_of<T>(&self, f: impl std::future::Future<Output = T>) -> (T, StoreIo) {
        let before = self.io();
        let out = f.await;
        let after = self.io();
        (
            out,
            StoreIo {
                reads: after.reads - before.reads,
                writes: after.writes - before.writes,
                transactions: after.transactions - before.transactions,
            },
        )
    }
}

#[async_trait]
impl ItemStore for CountingStore {
    async fn get(&self, pk: &str, sk: &str, now: UnixTime) -> Result<Option<Item>, StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.touched(pk);
        self.inner.get(pk, sk, now).await
    }

    async fn get_many(&self, keys: &[Key], now: UnixTime) -> Result<Vec<Option<Item>>, StoreError> {
        // One request, as on DynamoDB: the point of a batch is one round trip.
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        for key in keys {
            self.touched(&key.pk);
        }
        self.inner.get_many(keys, now).await
    }

    async fn query(&self, pk: &str, sk_prefix: &str, now: UnixTime) -> Result<Vec<Item>, StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.touched(pk);
        self.inner.query(pk, sk_prefix, now).await
    }

    async fn query_page(&self, pk: &str, page: PageRequest<'_>, now: UnixTime) -> Result<Page, StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.touched(pk);
        self.inner.query_page(pk, page, now).await
    }

    async fn transact(&self, ops: Vec<WriteOp>, now: UnixTime) -> Result<(), StoreError> {
        self.writes.fetch_add(ops.len(), std::sync::atomic::Ordering::SeqCst);
        self.transactions.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        for op in &ops {
            self.touched(op.key().0);
        }
        self.inner.transact(ops, now).await
    }

    async fn scan_by_field(
        &self,
        sk_prefix: &str,
        field: &str,
        value: &str,
        now: UnixTime,
    ) -> Result<Vec<Item>, StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.scan_by_field(sk_prefix, field, value, now).await
    }
}

pub struct TestApp {
    pub app: SharedApp,
    pub clock: ManualClock,
    pub sms: Arc<CapturingSms>,
    pub store: Arc<dyn ItemStore>,
}

/// 2026-01-01T00:00:00Z, where test clocks start.
pub const START: i64 = 1_767_225_600;

impl TestApp {
    pub fn on(store: Arc<dyn ItemStore>) -> Self {
        Self::with_policy(store, Policy::default())
    }

    pub fn with_policy(store: Arc<dyn ItemStore>, policy: Policy) -> Self {
        Self::with_settings(store, policy, Settings::default())
    }

    /// With these settings (a `portal_url` whose host is a domain, for passkeys).
    pub fn with_settings(store: Arc<dyn ItemStore>, policy: Policy, settings: Settings) -> Self {
        let clock = ManualClock::new(START);
        let sms = Arc::new(CapturingSms::default());
        let app = App::build(AppParts {
            store: store.clone(),
            sms: sms.clone(),
            clock: Arc::new(clock.clone()),
            keys: portal_core::security::key_parts::KeyParts::generate()
                .unwrap_or_else(|e| panic!("key generation failed: {e}")),
            settings,
            policy,
            hash_params: FAST_HASH,
        })
        .unwrap_or_else(|e| panic!("app build failed: {e}"));
        Self { app, clock, sms, store }
    }

    pub fn in_memory() -> Self {
        Self::on(Arc::new(
            SqliteStore::in_memory().unwrap_or_else(|e| panic!("sqlite: {e}")),
        ))
    }

    /// Creates an enabled account with the given password and a Norwegian mobile number.
    pub async fn account(&self, username: &str, password: &str, mobile: &str) -> Username {
        let username = Username::parse(username).unwrap_or_else(|e| panic!("{e}"));
        self.app
            .create_account(NewAccount {
                username: username.clone(),
                name: "Test Bruker".into(),
                email: None,
                mobile: MobileNumber::parse(mobile).unwrap_or_else(|e| panic!("{e}")),
                home_office: true,
                password: portal_core::services::admin::InitialPassword::Permanent(Password::new(password.into())),
            })
            .await
            .unwrap_or_else(|e| panic!("create account: {e}"));
        username
    }
}

impl TestApp {
    /// Records a live Buypass authorization request for `username`, as
    /// `POST /v1/homeoffice/buypass/start` would: `state` in the URL, bound to the browser
    /// cookie `browser_cookie`. For callback tests that skip the provider's login page.
    pub async fn insert_buypass_state(&self, username: Username, state: &str, browser_cookie: &str) {
        self.insert_buypass_state_of(username, None, state, browser_cookie)
            .await;
    }

    /// [`Self::insert_buypass_state`] as started from the session `session`.
    pub async fn insert_buypass_state_of(
        &self,
        username: Username,
        session: Option<portal_core::domain::SessionId>,
        state: &str,
        browser_cookie: &str,
    ) {
        use portal_core::buypass::flow::{LoginState, STATE_LIFETIME};
        use portal_core::store::keys::{oidc_state_pk, OIDC_STATE_SK};
        let now = self.app.now();
        let login = LoginState {
            username,
            nonce: "nonce".into(),
            pkce_verifier: "v".repeat(43),
            browser_hash: portal_core::security::sha256_hex(browser_cookie),
            created_at: now,
            session,
        };
        self.app
            .repo
            .insert(
                &oidc_state_pk(state),
                OIDC_STATE_SK,
                &login,
                Some(now + STATE_LIFETIME),
                now,
            )
            .await
            .unwrap_or_else(|e| panic!("storing the Buypass state: {e}"));
    }
}

/// A Buypass client whose provider is down (nothing listens on the discard port) and that
/// trusts a throwaway CA: for tests of everything the callback refuses before, or without,
/// talking to the provider.
pub fn unreachable_buypass() -> portal_core::buypass::flow::Buypass {
    use portal_core::buypass::certificate::TrustedIssuers;
    use portal_core::buypass::keys::Es256Key;
    use portal_core::buypass::oidc::{OidcClient, OidcSettings};
    use portal_dev::ca::DevCa;
    let ca = DevCa::generate("Buypass Test CA").unwrap_or_else(|e| panic!("test CA: {e:?}"));
    portal_core::buypass::flow::Buypass {
        oidc: OidcClient::new(OidcSettings {
            issuer: "http://127.0.0.1:9/auth/realms/test".into(),
            client_id: "hk".into(),
            redirect_uri: "http://127.0.0.1:8080/v1/homeoffice/buypass/callback".into(),
            client_key: Es256Key::generate().unwrap_or_else(|e| panic!("client key: {e}")),
        })
        .unwrap_or_else(|e| panic!("OIDC client: {e}")),
        trusted: TrustedIssuers::from_pem_bundle(&ca.certificate_pem())
            .unwrap_or_else(|e| panic!("trusted issuers: {e}")),
    }
}
