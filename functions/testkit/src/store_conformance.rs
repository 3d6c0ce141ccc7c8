//! The storage conformance suite: one set of behaviours every [`ItemStore`] must show.
//! Backends call [`run_all`] from their tests with a fresh, empty store.

use std::sync::Arc;

use serde_json::json;

use portal_core::store::{
    Condition, Item, ItemStore, Key, PageRequest, StoreError, WriteOp, MAX_BATCH_KEYS, MAX_PAGE, MAX_TRANSACTION_OPS,
};

const NOW: i64 = 1_700_000_000;

/// Runs every check; panics with the name of the first that fails.
pub async fn run_all(store: Arc<dyn ItemStore>) {
    put_get_and_conditions(&*store).await;
    expired_items_are_absent(&*store).await;
    query_by_prefix(&*store).await;
    transactions_are_atomic(&*store).await;
    scan_by_field(&*store).await;
    concurrent_conditional_updates_have_one_winner(store.clone()).await;
    json_values_round_trip_exactly(&*store).await;
    concurrent_inserts_of_one_key_have_one_winner(store.clone()).await;
    many_items_under_one_key_are_all_listed(&*store).await;
    pages_descending_with_limit_and_start(&*store).await;
    pages_skip_expired_items_and_stay_in_their_partition(&*store).await;
    batch_reads_answer_in_the_order_asked(&*store).await;
    batch_reads_take_a_full_batch_and_refuse_more(&*store).await;
    transactions_take_the_documented_maximum(&*store).await;
    condition_checks_gate_a_transaction_without_writing(&*store).await;
}

async fn put_get_and_conditions(s: &dyn ItemStore) {
    let item = Item::new("C#1", "A", json!({ "n": 1, "text": "blåbær ✓" }));
    s.put(item.clone(), Condition::Absent, NOW).await.expect("put absent");
    assert_eq!(
        s.get("C#1", "A", NOW).await.unwrap(),
        Some(item.clone()),
        "get returns what was put"
    );
    assert!(
        matches!(
            s.put(item.clone(), Condition::Absent, NOW).await,
            Err(StoreError::ConditionFailed)
        ),
        "absent on existing"
    );
    let updated = s
        .update(
            Item {
                data: json!({ "n": 2 }),
                ..item.clone()
            },
            NOW,
        )
        .await
        .expect("update at version 1");
    assert_eq!(updated.version, 2);
    assert!(
        matches!(s.update(item.clone(), NOW).await, Err(StoreError::ConditionFailed)),
        "stale version refused"
    );
    assert_eq!(s.get("C#1", "A", NOW).await.unwrap().unwrap().data, json!({ "n": 2 }));
    assert!(matches!(
        s.delete("C#1", "A", Condition::VersionIs(1), NOW).await,
        Err(StoreError::ConditionFailed)
    ));
    s.delete("C#1", "A", Condition::VersionIs(2), NOW)
        .await
        .expect("delete at version");
    assert_eq!(s.get("C#1", "A", NOW).await.unwrap(), None);
    assert!(
        matches!(
            s.put(Item::new("C#1", "missing", json!({})), Condition::VersionIs(1), NOW)
                .await,
            Err(StoreError::ConditionFailed)
        ),
        "version condition on a missing item"
    );
}

async fn expired_items_are_absent(s: &dyn ItemStore) {
    let item = Item::new("C#2", "A", json!({})).expiring(NOW + 10);
    s.put(item.clone(), Condition::Absent, NOW).await.unwrap();
    assert!(s.get("C#2", "A", NOW + 9).await.unwrap().is_some());
    assert_eq!(
        s.get("C#2", "A", NOW + 10).await.unwrap(),
        None,
        "expired item must read as absent"
    );
    assert!(
        s.query("C#2", "", NOW + 10).await.unwrap().is_empty(),
        "expired item must not be listed"
    );
    assert!(
        matches!(
            s.put(Item::new("C#2", "A", json!({})), Condition::VersionIs(1), NOW + 10)
                .await,
            Err(StoreError::ConditionFailed)
        ),
        "expired item has no version"
    );
    s.put(
        Item::new("C#2", "A", json!({ "fresh": true })),
        Condition::Absent,
        NOW + 10,
    )
    .await
    .expect("an expired item counts as absent for writes");
    assert_eq!(
        s.get("C#2", "A", NOW + 11).await.unwrap().unwrap().data,
        json!({ "fresh": true })
    );
}

async fn query_by_prefix(s: &dyn ItemStore) {
    for sk in ["SESSION#b", "SESSION#a", "PROFILE", "SESSION#c"] {
        let mut item = Item::new("C#3", sk, json!({ "sk": sk }));
        if sk == "SESSION#c" {
            item = item.expiring(NOW + 1);
        }
        s.put(item, Condition::Always, NOW).await.unwrap();
    }
    let found: Vec<String> = s
        .query("C#3", "SESSION#", NOW + 5)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.sk)
        .collect();
    assert_eq!(
        found,
        vec!["SESSION#a", "SESSION#b"],
        "prefix query, sorted, without expired"
    );
    assert!(s.query("C#3-other", "", NOW).await.unwrap().is_empty());
}

async fn transactions_are_atomic(s: &dyn ItemStore) {
    s.put(Item::new("C#4", "X", json!({})), Condition::Absent, NOW)
        .await
        .unwrap();
    let result = s
        .transact(
            vec![
                WriteOp::Put {
                    item: Item::new("C#4", "NEW", json!({})),
                    condition: Condition::Absent,
                },
                WriteOp::Put {
                    item: Item::new("C#4", "X", json!({})),
                    condition: Condition::Absent,
                },
            ],
            NOW,
        )
        .await;
    assert!(matches!(result, Err(StoreError::ConditionFailed)));
    assert_eq!(
        s.get("C#4", "NEW", NOW).await.unwrap(),
        None,
        "a failed transaction writes nothing"
    );
    s.transact(
        vec![
            WriteOp::Put {
                item: Item::new("C#4", "NEW", json!({})),
                condition: Condition::Absent,
            },
            WriteOp::Delete {
                pk: "C#4".into(),
                sk: "X".into(),
                condition: Condition::VersionIs(1),
            },
        ],
        NOW,
    )
    .await
    .expect("transaction with holding conditions");
    assert!(s.get("C#4", "NEW", NOW).await.unwrap().is_some());
    assert_eq!(s.get("C#4", "X", NOW).await.unwrap(), None);
}

async fn scan_by_field(s: &dyn ItemStore) {
    s.put(
        Item::new("C#5a", "SERIAL#a1", json!({ "status": "pending" })),
        Condition::Absent,
        NOW,
    )
    .await
    .unwrap();
    s.put(
        Item::new("C#5b", "SERIAL#a1", json!({ "status": "active" })),
        Condition::Absent,
        NOW,
    )
    .await
    .unwrap();
    s.put(
        Item::new("C#5c", "SERIAL#b2", json!({ "status": "pending" })).expiring(NOW + 1),
        Condition::Absent,
        NOW,
    )
    .await
    .unwrap();
    s.put(
        Item::new("C#5d", "OTHER", json!({ "status": "pending" })),
        Condition::Absent,
        NOW,
    )
    .await
    .unwrap();
    // A prefix, not a substring: `SERIAL#` inside another sort key does not match.
    s.put(
        Item::new("C#5e", "X#SERIAL#a1", json!({ "status": "pending" })),
        Condition::Absent,
        NOW,
    )
    .await
    .unwrap();
    s.put(
        Item::new("C#5f", "SERIAL#c3", json!({ "status": "pending" })),
        Condition::Absent,
        NOW,
    )
    .await
    .unwrap();
    let found: Vec<String> = s
        .scan_by_field("SERIAL#", "status", "pending", NOW + 5)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.pk)
        .collect();
    assert_eq!(found, vec!["C#5a", "C#5f"]);
}

async fn concurrent_conditional_updates_have_one_winner(s: Arc<dyn ItemStore>) {
    s.put(Item::new("C#6", "A", json!({ "n": 0 })), Condition::Absent, NOW)
        .await
        .unwrap();
    let base = s.get("C#6", "A", NOW).await.unwrap().unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            let mut item = base.clone();
            item.data = json!({ "n": i });
            tokio::spawn(async move { s.update(item, NOW).await.is_ok() })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1, "exactly one conditional update of the same version wins");
}

async fn json_values_round_trip_exactly(s: &dyn ItemStore) {
    let data = json!({
        "int": 7, "negative": -3, "big": u64::MAX, "small": i64::MIN, "fraction": 0.25,
        "text": "blåbær ✓ \"quoted\"", "empty": "", "yes": true, "no": false, "nothing": null,
        "list": [1, "to", [3], { "fire": 4 }, []], "nested": { "deeper": { "deepest": {} } }
    });
    s.put(Item::new("C#7", "JSON", data.clone()), Condition::Absent, NOW)
        .await
        .unwrap();
    let back = s.get("C#7", "JSON", NOW).await.unwrap().unwrap().data;
    assert_eq!(back, data, "data comes back exactly as stored");
    assert!(back["int"].is_i64() && back["big"].is_u64(), "integers stay integers");
    for scalar in [json!(1_700_000_123), json!("text"), json!([1, 2])] {
        s.put(Item::new("C#7", "SCALAR", scalar.clone()), Condition::Always, NOW)
            .await
            .unwrap();
        assert_eq!(
            s.get("C#7", "SCALAR", NOW).await.unwrap().unwrap().data,
            scalar,
            "data need not be an object"
        );
    }
}

async fn concurrent_inserts_of_one_key_have_one_winner(s: Arc<dyn ItemStore>) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.put(Item::new("C#8", "ONCE", json!({ "by": i })), Condition::Absent, NOW)
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => winners += 1,
            Err(StoreError::ConditionFailed) => {}
            Err(e) => panic!("concurrent insert: {e}"),
        }
    }
    assert_eq!(winners, 1, "exactly one conditional insert of a key wins");
}

async fn many_items_under_one_key_are_all_listed(s: &dyn ItemStore) {
    // Large enough that DynamoDB returns several pages (1 MB each).
    let filler = "x".repeat(30_000);
    for i in 0..80 {
        s.put(
            Item::new("C#9", format!("ROW#{i:03}"), json!({ "i": i, "filler": filler })),
            Condition::Always,
            NOW,
        )
        .await
        .unwrap();
    }
    let rows = s.query("C#9", "ROW#", NOW).await.unwrap();
    assert_eq!(rows.len(), 80, "every page of a query is read");
    assert_eq!(rows[79].data["i"], json!(79));
}

/// The sort keys of one page, and whether it said more follow.
async fn page_sks(s: &dyn ItemStore, pk: &str, page: PageRequest<'_>, now: i64) -> (Vec<String>, bool) {
    let page = s.query_page(pk, page, now).await.expect("query_page");
    (page.items.into_iter().map(|i| i.sk).collect(), page.more)
}

async fn pages_descending_with_limit_and_start(s: &dyn ItemStore) {
    for i in 0..7 {
        s.put(
            Item::new("C#10", format!("E#{i}"), json!({ "i": i })),
            Condition::Always,
            NOW,
        )
        .await
        .unwrap();
    }
    s.put(Item::new("C#10", "OTHER", json!({})), Condition::Always, NOW)
        .await
        .unwrap();
    let request = |descending, limit, after| PageRequest {
        sk_prefix: "E#",
        descending,
        limit,
        after,
    };
    assert_eq!(
        page_sks(s, "C#10", request(true, 3, None), NOW).await,
        (vec!["E#6".into(), "E#5".into(), "E#4".into()], true),
        "newest first, limited, more to come"
    );
    assert_eq!(
        page_sks(s, "C#10", request(true, 3, Some("E#4")), NOW).await,
        (vec!["E#3".into(), "E#2".into(), "E#1".into()], true),
        "continues strictly after the start key"
    );
    assert_eq!(
        page_sks(s, "C#10", request(true, 3, Some("E#1")), NOW).await,
        (vec!["E#0".into()], false),
        "the last page says nothing follows"
    );
    assert!(
        !page_sks(s, "C#10", request(true, 7, None), NOW).await.1,
        "a page holding exactly the rest says nothing follows"
    );
    assert_eq!(
        page_sks(s, "C#10", request(false, 2, Some("E#4")), NOW).await,
        (vec!["E#5".into(), "E#6".into()], false),
        "ascending, without the item of another prefix"
    );
    assert_eq!(
        page_sks(s, "C#10", request(true, 0, None), NOW).await.0,
        vec!["E#6".to_owned()],
        "a limit of 0 is read as 1"
    );
    let capped = page_sks(s, "C#10", request(true, usize::MAX, None), NOW).await;
    assert!(capped.0.len() == 7 && capped.0.len() <= MAX_PAGE && !capped.1);
}

async fn pages_skip_expired_items_and_stay_in_their_partition(s: &dyn ItemStore) {
    for i in 0..6 {
        let mut item = Item::new("C#11", format!("E#{i}"), json!({ "i": i }));
        // Every other item has expired: a page must still be full of live ones.
        if i % 2 == 1 {
            item = item.expiring(NOW + 1);
        }
        s.put(item, Condition::Always, NOW).await.unwrap();
    }
    s.put(Item::new("C#12", "E#9", json!({})), Condition::Always, NOW)
        .await
        .unwrap();
    let request = |after| PageRequest {
        sk_prefix: "E#",
        descending: true,
        limit: 2,
        after,
    };
    assert_eq!(
        page_sks(s, "C#11", request(None), NOW + 5).await,
        (vec!["E#4".into(), "E#2".into()], true),
        "expired items are skipped, the page is still full"
    );
    assert_eq!(
        page_sks(s, "C#11", request(Some("E#2")), NOW + 5).await,
        (vec!["E#0".into()], false),
        "an expired tail is not a next page"
    );
    assert_eq!(
        page_sks(s, "C#11", request(Some("E#9")), NOW + 5).await.0,
        vec!["E#4".to_owned(), "E#2".to_owned()],
        "a start key from another partition only positions within this one"
    );
}
async fn batch_reads_answer_in_the_order_asked(s: &dyn ItemStore) {
    s.put(Item::new("C#30", "A", json!({ "n": 1 })), Condition::Absent, NOW)
        .await
        .unwrap();
    s.put(Item::new("C#30", "B", json!({ "n": 2 })), Condition::Absent, NOW)
        .await
        .unwrap();
    s.put(Item::new("C#31", "A", json!({ "n": 3 })), Condition::Absent, NOW)
        .await
        .unwrap();
    s.put(
        Item::new("C#31", "OLD", json!({ "n": 4 })).expiring(NOW),
        Condition::Absent,
        NOW - 1,
    )
    .await
    .unwrap();
    let updated = s
        .update(s.get("C#30", "B", NOW).await.unwrap().expect("B stored"), NOW)
        .await
        .unwrap();
    let keys = [
        Key::new("C#31", "A"),
        Key::new("C#30", "MISSING"),
        Key::new("C#30", "B"),
        Key::new("C#31", "OLD"),
        Key::new("C#30", "A"),
        Key::new("C#31", "A"),
    ];
    let found = s.get_many(&keys, NOW).await.expect("batch read");
    assert_eq!(found.len(), keys.len(), "one answer per key asked");
    let data: Vec<Option<serde_json::Value>> = found.iter().map(|i| i.as_ref().map(|i| i.data.clone())).collect();
    assert_eq!(
        data,
        vec![
            Some(json!({ "n": 3 })),
            None,
            Some(json!({ "n": 2 })),
            None,
            Some(json!({ "n": 1 })),
            Some(json!({ "n": 3 })),
        ],
        "in the order asked, missing and expired items as None, a repeated key answered twice"
    );
    assert_eq!(found[2], Some(updated), "with the version a conditional write needs");
    assert_eq!(
        s.get_many(&[], NOW).await.expect("empty batch"),
        Vec::<Option<Item>>::new()
    );
    // A batch read sees a write that completed before it (strongly consistent).
    s.delete("C#30", "A", Condition::Always, NOW).await.unwrap();
    assert_eq!(s.get_many(&[Key::new("C#30", "A")], NOW).await.unwrap(), vec![None]);
}

async fn batch_reads_take_a_full_batch_and_refuse_more(s: &dyn ItemStore) {
    let ops: Vec<WriteOp> = (0..MAX_BATCH_KEYS)
        .step_by(4)
        .map(|i| WriteOp::Put {
            item: Item::new("C#32", format!("{i:03}"), json!({ "i": i })),
            condition: Condition::Absent,
        })
        .collect();
    s.transact(ops, NOW).await.expect("setup");
    let keys: Vec<Key> = (0..MAX_BATCH_KEYS)
        .map(|i| Key::new("C#32", format!("{i:03}")))
        .collect();
    let found = s.get_many(&keys, NOW).await.expect("a full batch");
    for (i, item) in found.iter().enumerate() {
        match item {
            Some(item) => assert_eq!((i % 4, &item.data), (0, &json!({ "i": i }))),
            None => assert_ne!(i % 4, 0, "{i} was stored"),
        }
    }
    let mut too_many = keys.clone();
    too_many.push(Key::new("C#32", "one more"));
    assert!(
        matches!(s.get_many(&too_many, NOW).await, Err(StoreError::Unavailable(_))),
        "more keys than DynamoDB takes in one batch are refused, not silently split"
    );
}

async fn transactions_take_the_documented_maximum(s: &dyn ItemStore) {
    let ops = |n: usize, pk: &str| -> Vec<WriteOp> {
        (0..n)
            .map(|i| WriteOp::Put {
                item: Item::new(pk, format!("{i:03}"), json!({})),
                condition: Condition::Absent,
            })
            .collect()
    };
    s.transact(ops(MAX_TRANSACTION_OPS, "C#33"), NOW)
        .await
        .expect("the documented maximum fits in one transaction");
    assert_eq!(s.query("C#33", "", NOW).await.unwrap().len(), MAX_TRANSACTION_OPS);
    assert!(
        matches!(
            s.transact(ops(MAX_TRANSACTION_OPS + 1, "C#34"), NOW).await,
            Err(StoreError::Unavailable(_))
        ),
        "one more is refused"
    );
    assert!(s.query("C#34", "", NOW).await.unwrap().is_empty(), "and writes nothing");
    let twice = vec![
        WriteOp::Put {
            item: Item::new("C#35", "A", json!({})),
            condition: Condition::Always,
        },
        WriteOp::Delete {
            pk: "C#35".into(),
            sk: "A".into(),
            condition: Condition::Always,
        },
    ];
    assert!(
        matches!(s.transact(twice, NOW).await, Err(StoreError::Unavailable(_))),
        "one key twice in a transaction is refused, as DynamoDB refuses it"
    );
    assert_eq!(s.get("C#35", "A", NOW).await.unwrap(), None);
}

async fn condition_checks_gate_a_transaction_without_writing(s: &dyn ItemStore) {
    s.put(Item::new("C#36", "READ", json!({ "n": 1 })), Condition::Absent, NOW)
        .await
        .unwrap();
    let check = |condition| WriteOp::Check {
        pk: "C#36".into(),
        sk: "READ".into(),
        condition,
    };
    let write = |sk: &str| WriteOp::Put {
        item: Item::new("C#36", sk, json!({})),
        condition: Condition::Absent,
    };
    assert!(
        matches!(
            s.transact(vec![check(Condition::VersionIs(2)), write("A")], NOW).await,
            Err(StoreError::ConditionFailed)
        ),
        "a record moved since it was read stops the transaction"
    );
    assert_eq!(s.get("C#36", "A", NOW).await.unwrap(), None, "and nothing is written");
    assert!(matches!(
        s.transact(vec![check(Condition::Absent), write("A")], NOW).await,
        Err(StoreError::ConditionFailed)
    ));
    s.transact(vec![check(Condition::VersionIs(1)), write("A")], NOW)
        .await
        .expect("the record as read lets the transaction through");
    assert!(s.get("C#36", "A", NOW).await.unwrap().is_some());
    let read = s.get("C#36", "READ", NOW).await.unwrap().expect("still there");
    assert_eq!(
        (read.version, read.data),
        (1, json!({ "n": 1 })),
        "a check writes nothing"
    );
    s.transact(
        vec![
            WriteOp::Check {
                pk: "C#36".into(),
                sk: "NEVER".into(),
                condition: Condition::Absent,
            },
            write("B"),
        ],
        NOW,
    )
    .await
    .expect("absence can be checked");
    assert!(
        matches!(
            s.transact(vec![check(Condition::VersionIs(2))], NOW).await,
            Err(StoreError::ConditionFailed)
        ),
        "a check alone answers too"
    );
    s.transact(vec![check(Condition::VersionIs(1))], NOW).await.unwrap();
}
