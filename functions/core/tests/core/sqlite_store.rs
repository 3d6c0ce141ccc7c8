//! The storage conformance suite on the SQLite backend (the DynamoDB run is in
//! `tests/aws-emulator`).

use std::sync::Arc;

use portal_core::store::sqlite::SqliteStore;
use portal_core::store::ItemStore;

#[tokio::test]
async fn conformance_in_memory() {
    portal_testkit::store_conformance::run_all(Arc::new(SqliteStore::in_memory().unwrap())).await;
}

#[tokio::test]
async fn conformance_on_a_file_shared_by_two_handles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.db");
    let first = SqliteStore::open(&path).unwrap();
    portal_testkit::store_conformance::run_all(Arc::new(first.clone())).await;
    // A second connection (as a second process would open) sees the same data.
    let second = SqliteStore::open(&path).unwrap();
    assert!(second.get("C#4", "NEW", 1_700_000_000).await.unwrap().is_some());
}
