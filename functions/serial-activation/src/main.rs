//! Lambda function `serial-activation`: activates registered certificate serials for the
//! home-office gateway (DynamoDB stream + EventBridge schedule) and serves the gateway's
//! certificate lookup. Configuration: see `portal_lambda::config` and `portal_lambda::serial_activation`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    portal_lambda::serial_activation::run_serial_activation_function().await
}
