//! Lambda function `serial-activation`: activates registered certificate serials for the
//! home-office gateway (DynamoDB stream + EventBridge schedule) and serves the gateway's
//! certificate lookup. Configuration: see `portal::lambda` and `portal::activation::config`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    portal::activation::config::run_serial_activation_function().await
}
