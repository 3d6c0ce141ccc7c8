//! Lambda function `login`: see `portal::routes::ROUTES` for the routes it serves.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portal::lambda::run_http_function(portal::routes::Function::Login, portal::routes::login_routes).await
}
