//! JSON values as native DynamoDB attributes (`M`, `L`, `S`, `N`, `BOOL`, `NULL`), so a stored
//! record is readable in the console and in stream images, and scans can filter on a field.
//!
//! Integers come back as integers: a number is read as `i64`/`u64` when it is one. DynamoDB
//! keeps numbers as decimals, so a float with an integral value (`1.0`) reads back as `1`; the
//! typed records never store floats, and serde reads `1` into an `f64` field all the same.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

use super::StoreError;

pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(fields) => AttributeValue::M(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

pub fn from_attribute(attribute: &AttributeValue) -> Result<Value, StoreError> {
    Ok(match attribute {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => Value::Number(parse_number(n)?),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attribute).collect::<Result<_, _>>()?),
        AttributeValue::M(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), from_attribute(v)?)))
                .collect::<Result<Map<_, _>, StoreError>>()?,
        ),
        other => return Err(StoreError::Corrupt(format!("unexpected attribute type {other:?}"))),
    })
}

pub fn parse_number(raw: &str) -> Result<Number, StoreError> {
    if let Ok(i) = raw.parse::<i64>() {
        return Ok(Number::from(i));
    }
    if let Ok(u) = raw.parse::<u64>() {
        return Ok(Number::from(u));
    }
    raw.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| StoreError::Corrupt(format!("number {raw:?} out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn nested_values_round_trip_with_integers_kept_integers() {
        let value = json!({
            "n": 1, "neg": -42, "big": u64::MAX, "min": i64::MIN, "half": 0.5,
            "s": "blåbær ✓", "empty": "", "t": true, "none": null,
            "list": [1, "two", [3], {}], "map": { "inner": { "deep": [] } }
        });
        let back = from_attribute(&to_attribute(&value)).unwrap();
        assert_eq!(back, value);
        assert!(back["n"].is_i64() && back["big"].is_u64());
    }

    #[test]
    fn sets_and_binaries_are_reported_as_corrupt_not_guessed() {
        assert!(from_attribute(&AttributeValue::Ss(vec!["a".into()])).is_err());
        assert!(from_attribute(&AttributeValue::N("1e999".into())).is_err());
    }

    proptest! {
        #[test]
        fn any_integer_round_trips(i in any::<i64>(), u in any::<u64>()) {
            let value = json!([i, u]);
            prop_assert_eq!(from_attribute(&to_attribute(&value)).unwrap(), value);
        }
    }
}
