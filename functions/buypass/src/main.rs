//! Lambda function `buypass`: Buypass smartcard registration (OpenID Connect start and
//! callback). Configuration: see `portal_lambda::config` and `portal_lambda::buypass`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portal_lambda::buypass::run_buypass_function().await
}
