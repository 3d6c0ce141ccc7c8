//! Lambda function `sms-code`: see `portal_http::routes::ROUTES` for the routes it serves.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portal_lambda::http_function::run_http_function(
        portal_http::routes::Function::SmsCode,
        portal_http::routes::sms_code_routes,
    )
    .await
}
