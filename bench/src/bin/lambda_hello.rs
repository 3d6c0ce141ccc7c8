//! The floor for cold-start measurements: the smallest useful `lambda_runtime` function.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(
            serde_json::json!({ "statusCode": 200, "body": event.payload.to_string().len().to_string() }),
        )
    }))
    .await
}
