//! Per-call CPU time of the request paths that do not hash a password, in process on an
//! in-memory SQLite store. Targets (issue 8): access-token verify ≤ 50 µs, code verify
//! ≤ 200 µs excluding storage I/O.
//!
//! `cargo bench -p portal --bench hot_paths`; `-- --test` runs each once (CI smoke mode).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use portal::domain::{ChallengeId, Password, SmsCode, Username};
use portal::store::records::ChallengePurpose;
use portal::testing::TestApp;

const PASSWORD: &str = "korrekt hest batteri stift";
const MOBILE: &str = "+4791234567";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"))
}

fn bench_tokens(c: &mut Criterion) {
    let t = TestApp::in_memory();
    let user = Username::parse("kari").unwrap_or_else(|e| panic!("{e}"));
    let sid = portal::domain::SessionId::generate();
    let now = t.clock.now_for_tests();
    let token = t.app.tokens.issue(&user, &sid, now).unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("access_token_verify (CPU only)", |b| {
        b.iter(|| black_box(t.app.tokens.verify(black_box(&token), now).is_ok()))
    });
    c.bench_function("access_token_issue (CPU only)", |b| {
        b.iter(|| black_box(t.app.tokens.issue(&user, &sid, now).is_ok()))
    });
}

fn bench_code_check(c: &mut Criterion) {
    let t = TestApp::in_memory();
    let id = ChallengeId::generate();
    let code = SmsCode::parse("123456").unwrap_or_else(|e| panic!("{e}"));
    let stored = t.app.codes.hash(&id, &code);
    c.bench_function("code_check (HMAC + constant-time compare, CPU only)", |b| {
        b.iter(|| black_box(t.app.codes.matches(&id, black_box(&code), &stored)))
    });
}

fn bench_store_paths(c: &mut Criterion) {
    let rt = runtime();
    let t = TestApp::in_memory();
    // The benchmark logs in thousands of times; lift the per-account SMS caps.
    let policy = portal::config::Policy {
        sms_per_account_hour: usize::MAX / 2,
        sms_per_destination_day: usize::MAX / 2,
        ..Default::default()
    };
    let t = TestApp::with_policy(t.store.clone(), policy);
    let user = rt.block_on(t.account("kari", PASSWORD, MOBILE));
    let mobile = portal::domain::MobileNumber::parse(MOBILE).unwrap_or_else(|e| panic!("{e}"));

    c.bench_function("code_verify (whole path, :memory: store)", |b| {
        b.iter_batched(
            || {
                rt.block_on(async {
                    let issued = t.app.login("kari", &Password::new(PASSWORD.into()), false, None).await;
                    let issued = issued.unwrap_or_else(|e| panic!("{e}"));
                    (
                        issued.challenge_id,
                        t.sms.last_code_to(&mobile).unwrap_or_else(|| panic!("no code")),
                    )
                })
            },
            |(id, code)| {
                rt.block_on(async {
                    let ok = t
                        .app
                        .verify_code(&id, &code, None, |c| {
                            matches!(c.purpose, ChallengePurpose::Login { .. })
                        })
                        .await
                        .is_ok();
                    black_box(ok)
                })
            },
            criterion::BatchSize::SmallInput,
        )
    });

    let session = rt
        .block_on(t.app.open_session(&user, false, None))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut refresh = session.refresh.clone();
    c.bench_function("refresh (rotate + new access token, :memory: store)", |b| {
        b.iter(|| {
            let next = rt
                .block_on(t.app.refresh_session(&refresh, None))
                .unwrap_or_else(|e| panic!("{e}"));
            refresh = next.refresh;
        })
    });

    let session = rt
        .block_on(t.app.open_session(&user, false, None))
        .unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("account_read (authenticate + view, :memory: store)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let caller = t
                    .app
                    .authenticate(&session.access_token)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                black_box(t.app.account_view(&caller.username).await.is_ok())
            })
        })
    });
}

criterion_group!(benches, bench_tokens, bench_code_check, bench_store_paths);
criterion_main!(benches);
