//! A do-nothing `lambda_runtime` function: the cold-start baseline that
//! `make bench` compares audit-grants against.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<Value, Error>(Value::Null)
    }))
    .await
}
