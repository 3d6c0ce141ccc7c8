//! What each AWS call costs, seen on the wire: an SDK interceptor on the DynamoDB, SNS and
//! Secrets Manager clients records every attempt (service, operation, bytes each way) and
//! derives items and capacity units from the request and response JSON with DynamoDB's
//! documented rounding rules.
//!
//! Capacity rules applied (DynamoDB developer guide, "Read/write capacity mode" and
//! "Item sizes and formats"):
//! - reads: 4 KB units; a strongly consistent read costs 1 unit per 4 KB, an eventually
//!   consistent one half of that; a read that finds nothing still costs one unit (or half);
//!   a Query or Scan sums the sizes of the items it returns and rounds once per call.
//! - writes: 1 KB units per item.
//! - transactions: every item read or written in a transaction costs double.
//!
//! Assumptions (the wire does not show what the table held before a write):
//! - a Put is charged on the new item's size: DynamoDB charges the larger of the old and the
//!   new item, so an overwrite of a larger item costs more than shown;
//! - a Delete, a ConditionCheck and an Update inside a transaction are charged 1 KB (the
//!   portal's items are well under 1 KB);
//! - a write whose condition fails is charged as if it had succeeded (DynamoDB charges the
//!   write capacity of a failed conditional write); such calls are counted in `failed`;
//! - a Query or Scan with a filter is charged on the items returned; when the response's
//!   `ScannedCount` is larger than `Count`, the filtered-out items cost too and are not in
//!   the figure (the call is flagged `filtered`).

use std::fmt;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::Value;

/// One attempt of one SDK call.
#[derive(Debug, Clone, Default)]
pub struct Call {
    pub service: String,
    pub operation: String,
    pub request_bytes: usize,
    pub response_bytes: usize,
    pub status: u16,
    pub items_read: usize,
    pub items_written: usize,
    pub item_bytes_read: usize,
    pub item_bytes_written: usize,
    pub rcu: f64,
    pub wcu: f64,
    /// A Query/Scan whose filter dropped items (their read cost is not in `rcu`).
    pub filtered: bool,
    /// The keys the call named, with everything after the first `#` of each value elided
    /// (names, hashes and ids stay out of the report), but for the scope of a limit or lock.
    pub keys: Vec<String>,
    /// The request JSON, for callers that need an id from it (never printed).
    pub request: Value,
    /// When the request went out and its answer was read: calls whose spans overlap ran at
    /// once and cost one round trip of waiting between them.
    pub span: Option<(std::time::Instant, std::time::Instant)>,
}

impl Call {
    pub fn is_dynamodb(&self) -> bool {
        self.service.eq_ignore_ascii_case("dynamodb")
    }

    pub fn failed(&self) -> bool {
        self.status >= 400
    }
}

#[derive(Debug, Clone)]
struct Pending {
    service: String,
    operation: String,
    request_bytes: usize,
    request: Value,
    started: std::time::Instant,
}

impl Storable for Pending {
    type Storer = StoreReplace<Self>;
}

/// The interceptor; clones share one log.
#[derive(Clone, Default)]
pub struct Meter {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl fmt::Debug for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Meter")
    }
}

impl Meter {
    /// The calls recorded since the last `take`.
    pub fn take(&self) -> Vec<Call> {
        self.calls
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "portal-bench meter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_default();
        let body = context.request().body().bytes().unwrap_or_default();
        let pending = Pending {
            service,
            operation,
            request_bytes: body.len() + headers_len(context.request().headers().iter()),
            request: serde_json::from_slice(body).unwrap_or(Value::Null),
            started: std::time::Instant::now(),
        };
        cfg.interceptor_state().store_put(pending);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(pending) = cfg.load::<Pending>().cloned() else {
            return Ok(());
        };
        let response = context.response();
        let body = response.body().bytes().unwrap_or_default();
        let mut call = Call {
            service: pending.service,
            operation: pending.operation,
            request_bytes: pending.request_bytes,
            response_bytes: body.len() + headers_len(response.headers().iter()),
            status: response.status().as_u16(),
            span: Some((pending.started, std::time::Instant::now())),
            ..Call::default()
        };
        if call.is_dynamodb() {
            let response_json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            dynamodb_capacity(&mut call, &pending.request, &response_json);
        }
        call.request = pending.request;
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
        Ok(())
    }
}

fn headers_len<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> usize {
    // "name: value\r\n" per header, as on an HTTP/1.1 wire.
    headers.map(|(k, v)| k.len() + v.len() + 4).sum()
}

/// Size of one attribute value as DynamoDB counts it.
pub fn value_size(value: &Value) -> usize {
    let Some((kind, v)) = value.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let str_len = |v: &Value| v.as_str().map(str::len).unwrap_or(0);
    match kind.as_str() {
        "S" => str_len(v),
        "N" => number_size(v.as_str().unwrap_or("0")),
        "B" => base64_len(v.as_str().unwrap_or("")),
        "BOOL" | "NULL" => 1,
        "SS" => v.as_array().map(|a| a.iter().map(str_len).sum()).unwrap_or(0),
        "NS" => v
            .as_array()
            .map(|a| a.iter().map(|n| number_size(n.as_str().unwrap_or("0"))).sum())
            .unwrap_or(0),
        "BS" => v
            .as_array()
            .map(|a| a.iter().map(|b| base64_len(b.as_str().unwrap_or(""))).sum())
            .unwrap_or(0),
        // Lists and maps: 3 bytes of overhead plus 1 byte per element.
        "L" => {
            3 + v
                .as_array()
                .map(|a| a.iter().map(|e| 1 + value_size(e)).sum())
                .unwrap_or(0)
        }
        "M" => {
            3 + v
                .as_object()
                .map(|m| m.iter().map(|(k, e)| 1 + k.len() + value_size(e)).sum())
                .unwrap_or(0)
        }
        _ => 0,
    }
}

/// Numbers: about one byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let digits = n
        .trim_start_matches('-')
        .replace('.', "")
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len();
    digits.div_ceil(2) + 1
}

fn base64_len(s: &str) -> usize {
    let padding = s.chars().rev().take_while(|c| *c == '=').count();
    (s.len() * 3 / 4).saturating_sub(padding)
}

/// Size of an item: attribute names plus values.
pub fn item_size(item: &Value) -> usize {
    item.as_object()
        .map(|m| m.iter().map(|(k, v)| k.len() + value_size(v)).sum())
        .unwrap_or(0)
}

fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.max(1).div_ceil(4096) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

fn write_units(bytes: usize) -> f64 {
    bytes.max(1).div_ceil(1024) as f64
}

fn elide(value: &Value) -> String {
    let raw = value
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(Value::as_str)
        .unwrap_or("?");
    let mut parts = raw.split('#');
    let head = parts.next().unwrap_or_default();
    match (head, parts.next(), parts.next()) {
        (_, None, _) => raw.to_owned(),
        // Limits and locks name their scope (a constant of the code) second: worth showing.
        ("LIMIT" | "LOCK", Some(scope), Some(_)) => format!("{head}#{scope}#…"),
        _ => format!("{head}#…"),
    }
}

fn key_text(key: &Value) -> String {
    let part = |name: &str| key.get(name).map(elide).unwrap_or_default();
    format!("{}/{}", part("pk"), part("sk"))
}

fn dynamodb_capacity(call: &mut Call, request: &Value, response: &Value) {
    let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
    match call.operation.as_str() {
        "GetItem" => {
            let size = response.get("Item").map(item_size).unwrap_or(0);
            call.items_read = usize::from(response.get("Item").is_some());
            call.item_bytes_read = size;
            call.rcu = read_units(size, consistent);
            call.keys.push(key_text(&request["Key"]));
        }
        "Query" | "Scan" => {
            let items = response["Items"].as_array().cloned().unwrap_or_default();
            let size: usize = items.iter().map(item_size).sum();
            call.items_read = items.len();
            call.item_bytes_read = size;
            call.rcu = read_units(size, consistent);
            call.filtered = response["ScannedCount"].as_u64() > response["Count"].as_u64();
            let values = &request["ExpressionAttributeValues"];
            let shown: Vec<String> = values
                .as_object()
                .map(|m| m.values().map(elide).collect())
                .unwrap_or_default();
            call.keys.push(shown.join(","));
        }
        "PutItem" => {
            let size = item_size(&request["Item"]);
            call.items_written = 1;
            call.item_bytes_written = size;
            call.wcu = write_units(size);
            call.keys.push(key_text(&request["Item"]));
        }
        "DeleteItem" | "UpdateItem" => {
            call.items_written = 1;
            call.wcu = 1.0;
            call.keys.push(key_text(&request["Key"]));
        }
        "TransactWriteItems" => {
            for entry in request["TransactItems"].as_array().into_iter().flatten() {
                if let Some(put) = entry.get("Put") {
                    let size = item_size(&put["Item"]);
                    call.items_written += 1;
                    call.item_bytes_written += size;
                    call.wcu += 2.0 * write_units(size);
                    call.keys.push(format!("put {}", key_text(&put["Item"])));
                } else if let Some((kind, op)) = entry.as_object().and_then(|o| o.iter().next()) {
                    if kind != "ConditionCheck" {
                        call.items_written += 1;
                    }
                    call.wcu += 2.0;
                    call.keys
                        .push(format!("{} {}", kind.to_lowercase(), key_text(&op["Key"])));
                }
            }
        }
        "BatchGetItem" => {
            // Charged per item as a GetItem of it would be (a miss costs its unit too); the
            // portal asks for one table, strongly consistent.
            let asked = request["RequestItems"].as_object().into_iter().flat_map(|t| t.values());
            for table in asked {
                let consistent = table["ConsistentRead"].as_bool().unwrap_or(false);
                let keys = table["Keys"].as_array().cloned().unwrap_or_default();
                let found: Vec<Value> = response["Responses"]
                    .as_object()
                    .into_iter()
                    .flat_map(|t| t.values())
                    .filter_map(Value::as_array)
                    .flatten()
                    .cloned()
                    .collect();
                for key in &keys {
                    let item = found.iter().find(|i| i["pk"] == key["pk"] && i["sk"] == key["sk"]);
                    let size = item.map(item_size).unwrap_or(0);
                    call.items_read += usize::from(item.is_some());
                    call.item_bytes_read += size;
                    call.rcu += read_units(size, consistent);
                    call.keys.push(key_text(key));
                }
            }
        }
        "TransactGetItems" => {
            for entry in response["Responses"].as_array().into_iter().flatten() {
                let size = entry.get("Item").map(item_size).unwrap_or(0);
                call.items_read += usize::from(entry.get("Item").is_some());
                call.item_bytes_read += size;
                call.rcu += 2.0 * read_units(size, true);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(operation: &str, request: Value, response: Value) -> Call {
        let mut c = Call {
            service: "DynamoDB".into(),
            operation: operation.into(),
            ..Call::default()
        };
        dynamodb_capacity(&mut c, &request, &response);
        c
    }

    #[test]
    fn a_batch_read_costs_a_unit_per_key_found_or_not() {
        let key = |sk: &str| json!({ "pk": {"S": "ACCOUNT#kari"}, "sk": {"S": sk} });
        let mut found = key("PROFILE");
        found["data"] = json!({ "S": "x".repeat(5000) });
        let request =
            json!({ "RequestItems": { "t": { "ConsistentRead": true, "Keys": [key("PROFILE"), key("TOTP")] } } });
        let response = json!({ "Responses": { "t": [found] } });
        let c = call("BatchGetItem", request, response);
        assert_eq!((c.items_read, c.rcu), (1, 3.0), "5 KB found: 2 units, the miss: 1");
        assert_eq!(c.keys, vec!["ACCOUNT#…/PROFILE", "ACCOUNT#…/TOTP"]);
    }

    #[test]
    fn item_sizes_count_names_and_values_as_dynamodb_does() {
        // "pk"(2) + "ACCOUNT#kari"(12) + "n"(1) + 12345 (3 digit pairs: 3+1) + "ok"(2) + BOOL(1)
        let item = json!({ "pk": {"S": "ACCOUNT#kari"}, "n": {"N": "12345"}, "ok": {"BOOL": true} });
        assert_eq!(item_size(&item), 2 + 12 + 1 + 4 + 2 + 1);
        // A map: 3 bytes overhead, 1 per element, plus names and values.
        assert_eq!(value_size(&json!({"M": {"a": {"S": "xy"}}})), 3 + 1 + 1 + 2);
        assert_eq!(value_size(&json!({"B": "AAAA"})), 3);
    }

    #[test]
    fn reads_round_to_4_kb_and_halve_when_eventually_consistent() {
        let big = json!({ "pk": {"S": "x".repeat(5000)} });
        let strong = call(
            "GetItem",
            json!({"ConsistentRead": true, "Key": {}}),
            json!({"Item": big}),
        );
        assert_eq!(strong.rcu, 2.0);
        let eventual = call("GetItem", json!({"Key": {}}), json!({"Item": big}));
        assert_eq!(eventual.rcu, 1.0);
        let missing = call("GetItem", json!({"ConsistentRead": true, "Key": {}}), json!({}));
        assert_eq!((missing.rcu, missing.items_read), (1.0, 0));
    }

    #[test]
    fn a_query_sums_its_items_before_rounding() {
        let small = json!({ "pk": {"S": "x".repeat(998)} }); // 1000 bytes
        let response = json!({ "Items": [small, small, small], "Count": 3, "ScannedCount": 3 });
        let q = call("Query", json!({"ConsistentRead": true}), response);
        assert_eq!((q.rcu, q.items_read, q.item_bytes_read), (1.0, 3, 3000));
        assert!(!q.filtered);
    }

    #[test]
    fn transactional_writes_cost_double_per_started_kilobyte() {
        let item = json!({ "pk": {"S": "A#1"}, "sk": {"S": "x".repeat(1100)} });
        let request = json!({ "TransactItems": [
            { "Put": { "Item": item } },
            { "Delete": { "Key": { "pk": {"S": "B#2"}, "sk": {"S": "s"} } } },
            { "ConditionCheck": { "Key": { "pk": {"S": "C#3"}, "sk": {"S": "s"} } } },
        ]});
        let t = call("TransactWriteItems", request, json!({}));
        assert_eq!(t.wcu, 2.0 * 2.0 + 2.0 + 2.0);
        assert_eq!(t.items_written, 2);
        assert_eq!(
            t.keys[1..],
            ["delete B#…/s".to_owned(), "conditioncheck C#…/s".to_owned()]
        );
    }

    #[test]
    fn keys_show_their_kind_and_a_limit_s_scope_never_a_name() {
        let get = |pk: &str| {
            call(
                "GetItem",
                json!({"Key": {"pk": {"S": pk}, "sk": {"S": "STREAK"}}}),
                json!({}),
            )
        };
        assert_eq!(get("LIMIT#pwfail#kari").keys, ["LIMIT#pwfail#…/STREAK"]);
        assert_eq!(get("ACCOUNT#kari").keys, ["ACCOUNT#…/STREAK"]);
        assert_eq!(get("SESSION#3f2a#x").keys, ["SESSION#…/STREAK"]);
    }
}
