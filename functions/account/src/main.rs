//! Lambda function `account`: see `portal::routes::ROUTES` for the routes it serves.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portal::lambda::run_http_function(portal::routes::Function::Account, portal::routes::account_routes).await
}
