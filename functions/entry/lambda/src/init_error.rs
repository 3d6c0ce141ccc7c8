//! Start-up failures reported to the Lambda Runtime API's `/runtime/init/error`, so the reason
//! shows as `Runtime.InitError` in the invocation error rather than a bare "Runtime exited".
//! Every function's start goes through here.

use portal_core::config::ConfigError;
use portal_http::routes::Function;

/// Passes `result` through; on an error, logs it and reports it to the runtime API first
/// (functions with their own `main`: buypass, serial-activation).
pub async fn reported<T>(function: Function, result: Result<T, ConfigError>) -> Result<T, ConfigError> {
    if let Err(e) = &result {
        tracing::error!(function = function.name(), error = %e, "initialisation failed");
        report_init_error(e).await;
    }
    result
}

/// Tells the Lambda service why this instance cannot start, so the reason shows in the
/// invocation error rather than a bare "Runtime exited". Best effort: the process exits anyway.
pub(crate) async fn report_init_error(error: &ConfigError) {
    let body = serde_json::json!({
        "errorType": "ConfigError",
        "errorMessage": error.to_string(),
    });
    let request = lambda_runtime_api_client::build_request()
        .method(http::Method::POST)
        .uri("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(lambda_runtime_api_client::body::Body::from(body.to_string()));
    let (Ok(client), Ok(request)) = (lambda_runtime_api_client::Client::builder().build(), request) else {
        return;
    };
    if let Err(e) = client.call(request).await {
        tracing::warn!(error = %e, "could not report the initialisation error to the runtime API");
    }
}
