//! The AWS backend: one DynamoDB table (`pk`/`sk` strings, `version`, TTL attribute
//! `expires_at`, the record in `data` as a native map).
//!
//! Every rule of [`ItemStore`] is enforced by DynamoDB itself with condition expressions, never
//! by a read followed by a write, so it holds across any number of Lambda instances. TTL deletes
//! lazily (and emulators never), so expired items are filtered on every read and count as absent
//! in conditions.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};
use aws_sdk_dynamodb::Client;

use super::dynamo_codec::{from_attribute, parse_number, to_attribute};
use super::{
    check_transaction, distinct_keys, in_order, Condition, Item, ItemStore, Key, Page, PageRequest, StoreError,
    WriteOp, MAX_PAGE,
};
use crate::clock::UnixTime;

pub use super::dynamodb_table::{create_table, TableCreated};

/// Attribute names. `data` is a DynamoDB reserved word, so expressions always use placeholders.
const PK: &str = "pk";
const SK: &str = "sk";
const VERSION: &str = "version";
const EXPIRES_AT: &str = "expires_at";
const DATA: &str = "data";

/// How often a write that collided with a concurrent transaction is tried again. Such a
/// collision means "try again", not "condition failed", so it must not reach the caller as one.
const CONFLICT_RETRIES: u32 = 4;

/// How often a batch read asks again for keys DynamoDB left unprocessed (throttling, or more
/// than 16 MB; the portal's items are far smaller). Each retry waits a little longer.
const UNPROCESSED_RETRIES: u32 = 5;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Fails with a helpful message when the table is missing or unreachable (for start-up
    /// checks of long-running processes; Lambdas skip it to keep cold starts short).
    pub async fn check_table(&self) -> Result<(), StoreError> {
        match self.client.describe_table().table_name(&self.table).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Err(StoreError::Unavailable(format!(
                    "DynamoDB table {} does not exist (create it with `portal-admin init-table`)",
                    self.table
                )))
            }
            Err(e) => Err(sdk_unavailable("DescribeTable", e)),
        }
    }
}

/// Every SDK failure that is not a failed condition: the service is unreachable, throttling,
/// misconfigured or timed out. The caller answers 503; the message is for operators' logs.
fn sdk_unavailable<E, R>(operation: &str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!("DynamoDB {operation}: {}", DisplayErrorContext(&e)))
}

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk.to_owned())),
        (SK.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

fn encode(item: &Item) -> HashMap<String, AttributeValue> {
    let mut attributes = key(&item.pk, &item.sk);
    attributes.insert(VERSION.into(), AttributeValue::N(item.version.to_string()));
    if let Some(at) = item.expires_at {
        attributes.insert(EXPIRES_AT.into(), AttributeValue::N(at.to_string()));
    }
    attributes.insert(DATA.into(), to_attribute(&item.data));
    attributes
}

fn decode(attributes: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    let string = |name: &str| match attributes.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(StoreError::Corrupt(format!("item without string {name}"))),
    };
    let (pk, sk) = (string(PK)?, string(SK)?);
    let corrupt = |what: &str| StoreError::Corrupt(format!("{pk}/{sk}: {what}"));
    let version = match attributes.get(VERSION) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().map_err(|_| corrupt("version"))?,
        _ => return Err(corrupt("no version")),
    };
    let expires_at = match attributes.get(EXPIRES_AT) {
        None => None,
        Some(AttributeValue::N(n)) => Some(
            parse_number(n)
                .ok()
                .and_then(|n| n.as_i64())
                .ok_or_else(|| corrupt("expires_at"))?,
        ),
        Some(_) => return Err(corrupt("expires_at is not a number")),
    };
    let data = from_attribute(attributes.get(DATA).ok_or_else(|| corrupt("no data"))?)?;
    Ok(Item {
        pk,
        sk,
        version,
        expires_at,
        data,
    })
}

/// A condition as a DynamoDB expression with its placeholders.
struct Expression {
    text: &'static str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn expression(condition: Condition, now: UnixTime) -> Option<Expression> {
    let now = AttributeValue::N(now.to_string());
    match condition {
        Condition::Always => None,
        // A TTL-expired item still physically present counts as absent.
        Condition::Absent => Some(Expression {
            text: "attribute_not_exists(#pk) OR #exp <= :now",
            names: HashMap::from([("#pk".into(), PK.into()), ("#exp".into(), EXPIRES_AT.into())]),
            values: HashMap::from([(":now".into(), now)]),
        }),
        Condition::VersionIs(v) => Some(Expression {
            text: "#ver = :ver AND (attribute_not_exists(#exp) OR #exp > :now)",
            names: HashMap::from([("#ver".into(), VERSION.into()), ("#exp".into(), EXPIRES_AT.into())]),
            values: HashMap::from([(":ver".into(), AttributeValue::N(v.to_string())), (":now".into(), now)]),
        }),
    }
}

fn live_filter(now: UnixTime) -> (&'static str, AttributeValue) {
    (
        "(attribute_not_exists(#exp) OR #exp > :now)",
        AttributeValue::N(now.to_string()),
    )
}

/// The expressions of a Query for the live items of `pk` whose sort key starts with
/// `sk_prefix`.
struct PartitionQuery {
    key_condition: &'static str,
    live: &'static str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn partition_query(pk: &str, sk_prefix: &str, now: UnixTime) -> PartitionQuery {
    let (live, now_value) = live_filter(now);
    let mut names = HashMap::from([
        ("#pk".to_owned(), PK.to_owned()),
        ("#exp".to_owned(), EXPIRES_AT.to_owned()),
    ]);
    let mut values = HashMap::from([
        (":pk".to_owned(), AttributeValue::S(pk.to_owned())),
        (":now".to_owned(), now_value),
    ]);
    // Key conditions may not compare with an empty string: no prefix means the whole pk.
    let key_condition = if sk_prefix.is_empty() {
        "#pk = :pk"
    } else {
        names.insert("#sk".into(), SK.into());
        values.insert(":prefix".into(), AttributeValue::S(sk_prefix.to_owned()));
        "#pk = :pk AND begins_with(#sk, :prefix)"
    };
    PartitionQuery {
        key_condition,
        live,
        names,
        values,
    }
}

/// What one attempt at a write ended in.
enum Attempt {
    Done,
    ConditionFailed,
    /// Collided with another transaction on the same item; nothing was written.
    Conflict,
    Failed(StoreError),
}

impl DynamoStore {
    async fn put_one(&self, item: &Item, condition: Condition, now: UnixTime) -> Attempt {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(encode(item)));
        if let Some(e) = expression(condition, now) {
            request = request
                .condition_expression(e.text)
                .set_expression_attribute_names(Some(e.names))
                .set_expression_attribute_values(Some(e.values));
        }
        match request.send().await {
            Ok(_) => Attempt::Done,
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_conditional_check_failed_exception() => Attempt::ConditionFailed,
                Some(s) if s.is_transaction_conflict_exception() => Attempt::Conflict,
                _ => Attempt::Failed(sdk_unavailable("PutItem", e)),
            },
        }
    }

    async fn delete_one(&self, pk: &str, sk: &str, condition: Condition, now: UnixTime) -> Attempt {
        let mut request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)));
        if let Some(e) = expression(condition, now) {
            request = request
                .condition_expression(e.text)
                .set_expression_attribute_names(Some(e.names))
                .set_expression_attribute_values(Some(e.values));
        }
        match request.send().await {
            Ok(_) => Attempt::Done,
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_conditional_check_failed_exception() => Attempt::ConditionFailed,
                Some(s) if s.is_transaction_conflict_exception() => Attempt::Conflict,
                _ => Attempt::Failed(sdk_unavailable("DeleteItem", e)),
            },
        }
    }

    /// A lone [`WriteOp::Check`]: one consistent read instead of a transaction.
    async fn check_one(&self, pk: &str, sk: &str, condition: Condition, now: UnixTime) -> Attempt {
        let version = match self.get(pk, sk, now).await {
            Ok(found) => found.map(|i| i.version),
            Err(e) => return Attempt::Failed(e),
        };
        let holds = match condition {
            Condition::Always => true,
            Condition::Absent => version.is_none(),
            Condition::VersionIs(v) => version == Some(v),
        };
        if holds {
            Attempt::Done
        } else {
            Attempt::ConditionFailed
        }
    }

    async fn transact_many(&self, ops: &[WriteOp], now: UnixTime) -> Attempt {
        let mut items = Vec::with_capacity(ops.len());
        for op in ops {
            let built = match op {
                WriteOp::Put { item, condition } => {
                    let mut put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(encode(item)))
                        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None);
                    if let Some(e) = expression(*condition, now) {
                        put = put
                            .condition_expression(e.text)
                            .set_expression_attribute_names(Some(e.names))
                            .set_expression_attribute_values(Some(e.values));
                    }
                    put.build().map(|p| TransactWriteItem::builder().put(p).build())
                }
                WriteOp::Delete { pk, sk, condition } => {
                    let mut delete = Delete::builder().table_name(&self.table).set_key(Some(key(pk, sk)));
                    if let Some(e) = expression(*condition, now) {
                        delete = delete
                            .condition_expression(e.text)
                            .set_expression_attribute_names(Some(e.names))
                            .set_expression_attribute_values(Some(e.values));
                    }
                    delete.build().map(|d| TransactWriteItem::builder().delete(d).build())
                }
                WriteOp::Check { pk, sk, condition } => {
                    // DynamoDB wants an expression on every ConditionCheck; `Always` has none.
                    let Some(e) = expression(*condition, now) else {
                        continue;
                    };
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(pk, sk)))
                        .condition_expression(e.text)
                        .set_expression_attribute_names(Some(e.names))
                        .set_expression_attribute_values(Some(e.values))
                        .build()
                        .map(|c| TransactWriteItem::builder().condition_check(c).build())
                }
            };
            match built {
                Ok(item) => items.push(item),
                Err(e) => return Attempt::Failed(StoreError::Unavailable(e.to_string())),
            }
        }
        if items.is_empty() {
            return Attempt::Done;
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Attempt::Done,
            Err(e) => {
                let Some(service) = e.as_service_error() else {
                    return Attempt::Failed(sdk_unavailable("TransactWriteItems", e));
                };
                if let TransactWriteItemsError::TransactionCanceledException(cancelled) = service {
                    let codes: Vec<&str> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|r| r.code())
                        .collect();
                    if codes.contains(&"ConditionalCheckFailed") {
                        return Attempt::ConditionFailed;
                    }
                    if codes.contains(&"TransactionConflict") {
                        return Attempt::Conflict;
                    }
                } else if service.code() == Some("TransactionConflictException") {
                    return Attempt::Conflict;
                }
                Attempt::Failed(sdk_unavailable("TransactWriteItems", e))
            }
        }
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, pk: &str, sk: &str, now: UnixTime) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_unavailable("GetItem", e))?;
        match output.item() {
            Some(attributes) => Ok(Some(decode(attributes)?).filter(|i| i.is_live(now))),
            None => Ok(None),
        }
    }

    async fn get_many(&self, keys: &[Key], now: UnixTime) -> Result<Vec<Option<Item>>, StoreError> {
        let distinct = distinct_keys(keys)?;
        if distinct.is_empty() {
            return Ok(vec![None; keys.len()]);
        }
        let mut pending: Vec<HashMap<String, AttributeValue>> = distinct.iter().map(|k| key(&k.pk, &k.sk)).collect();
        let mut found = Vec::with_capacity(pending.len());
        for attempt in 0..=UNPROCESSED_RETRIES {
            if attempt > 0 {
                let jitter = u64::from(rand::random::<u8>() % 20);
                tokio::time::sleep(Duration::from_millis(25 * (1 << attempt) + jitter)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| sdk_unavailable("BatchGetItem", e))?;
            if let Some(items) = output.responses().and_then(|r| r.get(&self.table)) {
                for attributes in items {
                    found.push(decode(attributes)?);
                }
            }
            pending = output
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(in_order(keys, found, now));
            }
        }
        Err(StoreError::Unavailable(
            "DynamoDB BatchGetItem: keys left unprocessed after retries".into(),
        ))
    }

    async fn query(&self, pk: &str, sk_prefix: &str, now: UnixTime) -> Result<Vec<Item>, StoreError> {
        let PartitionQuery {
            key_condition,
            live,
            names,
            values,
        } = partition_query(pk, sk_prefix, now);
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(key_condition)
                .filter_expression(live)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_unavailable("Query", e))?;
            for attributes in output.items() {
                let item = decode(attributes)?;
                if item.is_live(now) {
                    found.push(item);
                }
            }
            match output.last_evaluated_key() {
                Some(last) if !last.is_empty() => start = Some(last.clone()),
                _ => break,
            }
        }
        Ok(found)
    }

    async fn query_page(&self, pk: &str, page: PageRequest<'_>, now: UnixTime) -> Result<Page, StoreError> {
        let limit = page.limit.clamp(1, MAX_PAGE);
        let PartitionQuery {
            key_condition,
            live,
            names,
            values,
        } = partition_query(pk, page.sk_prefix, now);
        // `Limit` counts items read before the expiry filter, so a page may come back short
        // with a `LastEvaluatedKey`: read on until one more live item than asked for is in
        // hand (that one only says another page follows) or the partition ends.
        let mut start = page.after.map(|sk| key(pk, sk));
        let mut found = Vec::new();
        loop {
            let wanted = limit + 1 - found.len();
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(key_condition)
                .filter_expression(live)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(true)
                .scan_index_forward(!page.descending)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_unavailable("Query", e))?;
            for attributes in output.items() {
                let item = decode(attributes)?;
                if item.is_live(now) {
                    found.push(item);
                }
            }
            if found.len() > limit {
                break;
            }
            match output.last_evaluated_key() {
                Some(last) if !last.is_empty() => start = Some(last.clone()),
                _ => break,
            }
        }
        let more = found.len() > limit;
        found.truncate(limit);
        Ok(Page { items: found, more })
    }

    async fn transact(&self, ops: Vec<WriteOp>, now: UnixTime) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        check_transaction(&ops)?;
        for attempt in 0..CONFLICT_RETRIES {
            let outcome = match ops.as_slice() {
                // One item needs no transaction: a conditional write is atomic and cheaper.
                [WriteOp::Put { item, condition }] => self.put_one(item, *condition, now).await,
                [WriteOp::Delete { pk, sk, condition }] => self.delete_one(pk, sk, *condition, now).await,
                // A check alone writes nothing: a transaction of it would only cost a write.
                [WriteOp::Check { pk, sk, condition }] => self.check_one(pk, sk, *condition, now).await,
                many => self.transact_many(many, now).await,
            };
            match outcome {
                Attempt::Done => return Ok(()),
                Attempt::ConditionFailed => return Err(StoreError::ConditionFailed),
                Attempt::Failed(e) => return Err(e),
                Attempt::Conflict => {
                    let jitter = u64::from(rand::random::<u8>() % 20);
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1) + jitter)).await;
                }
            }
        }
        Err(StoreError::Unavailable(
            "DynamoDB: write kept colliding with concurrent transactions".into(),
        ))
    }

    async fn scan_by_field(
        &self,
        sk_prefix: &str,
        field: &str,
        value: &str,
        now: UnixTime,
    ) -> Result<Vec<Item>, StoreError> {
        if !field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::Unavailable(format!("invalid field name {field:?}")));
        }
        let (live, now_value) = live_filter(now);
        let filter = format!("begins_with(#sk, :sk) AND #data.#field = :value AND {live}");
        let names = HashMap::from([
            ("#sk".to_owned(), SK.to_owned()),
            ("#data".to_owned(), DATA.to_owned()),
            ("#field".to_owned(), field.to_owned()),
            ("#exp".to_owned(), EXPIRES_AT.to_owned()),
        ]);
        let values = HashMap::from([
            (":sk".to_owned(), AttributeValue::S(sk_prefix.to_owned())),
            (":value".to_owned(), AttributeValue::S(value.to_owned())),
            (":now".to_owned(), now_value),
        ]);
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(&filter)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_unavailable("Scan", e))?;
            for attributes in output.items() {
                let item = decode(attributes)?;
                if item.is_live(now) {
                    found.push(item);
                }
            }
            match output.last_evaluated_key() {
                Some(last) if !last.is_empty() => start = Some(last.clone()),
                _ => break,
            }
        }
        found.sort_by(|a, b| a.pk.cmp(&b.pk));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_round_trip_through_the_attribute_layout() {
        let item = Item::new("ACCOUNT#kari", "PROFILE", json!({ "n": 3, "name": "Kari" })).expiring(1_700_000_000);
        let attributes = encode(&item);
        assert_eq!(attributes[EXPIRES_AT], AttributeValue::N("1700000000".into()));
        assert!(matches!(attributes[DATA], AttributeValue::M(_)));
        assert_eq!(decode(&attributes).unwrap(), item);
    }

    #[test]
    fn items_missing_their_bookkeeping_are_corrupt() {
        let mut attributes = encode(&Item::new("a", "b", json!({})));
        attributes.remove(VERSION);
        assert!(matches!(decode(&attributes), Err(StoreError::Corrupt(_))));
    }
}
