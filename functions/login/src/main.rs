//! Lambda function `login`: see `portal_http::routes::ROUTES` for the routes it serves.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portal_lambda::http_function::run_http_function(
        portal_http::routes::Function::Login,
        portal_http::routes::login_routes,
    )
    .await
}
