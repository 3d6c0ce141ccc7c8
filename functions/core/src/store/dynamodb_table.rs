//! Creates the single table exactly as `infra/` declares it, for `portal-admin init-table`,
//! LocalStack-less development against moto, and tests: on-demand billing, `pk`/`sk` string
//! keys, TTL on `expires_at`, a NEW_AND_OLD_IMAGES stream (serial activation listens to it),
//! encryption and point-in-time recovery.

use std::time::Duration;

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification, ScalarAttributeType,
    SseSpecification, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use super::StoreError;

/// What [`create_table`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableCreated {
    Created,
    /// A table of that name was there already; it was left as it is.
    AlreadyExisted,
}

fn failed(step: &str, e: impl std::error::Error + 'static) -> StoreError {
    StoreError::Unavailable(format!("{step}: {}", DisplayErrorContext(&e)))
}

fn invalid(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub async fn create_table(client: &Client, table: &str) -> Result<TableCreated, StoreError> {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(invalid)
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(invalid)
    };
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(invalid)?,
        )
        .sse_specification(SseSpecification::builder().enabled(true).build())
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {
            return Ok(TableCreated::AlreadyExisted)
        }
        Err(e) => return Err(failed("CreateTable", e)),
    }
    // TTL and backups can only be switched on once the table is ACTIVE.
    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|e| failed("waiting for the table", e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .map_err(invalid)?,
        )
        .send()
        .await
        .map_err(|e| failed("UpdateTimeToLive", e))?;
    client
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .map_err(invalid)?,
        )
        .send()
        .await
        .map_err(|e| failed("UpdateContinuousBackups", e))?;
    Ok(TableCreated::Created)
}
