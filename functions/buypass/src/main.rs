//! Lambda function `buypass`: Buypass smartcard registration (OpenID Connect start and
//! callback). Configuration: see `portal::lambda` and `portal::buypass::config`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portal::buypass::config::run_buypass_function().await
}
