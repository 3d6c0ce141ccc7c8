//! Tests over the real AWS wire protocol (moto) and the Lambda Runtime API emulator. One test
//! binary with a module per area, so the portal crates are linked once.

mod dynamodb;
mod lambda_runtime;
mod portal_local;
mod sns_and_secrets;
