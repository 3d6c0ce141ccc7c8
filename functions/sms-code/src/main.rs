//! Lambda function `sms-code`: see `portal::routes::ROUTES` for the routes it serves.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portal::lambda::run_http_function(portal::routes::Function::SmsCode, portal::routes::sms_code_routes).await
}
