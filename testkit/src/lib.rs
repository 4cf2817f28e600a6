//! Test harness: the real service and the real SDK against the local AWS
//! emulator (moto server, started by `scripts/moto.sh`, whose address is in
//! `AUDIT_GRANTS_TEST_ENDPOINT`).
//!
//! Each test gets its own AWS account on the one emulator (moto's
//! `x-moto-account-id` header, added by an SDK interceptor), so tests run in
//! parallel without seeing each other. moto is not thread-safe, so every
//! request passes through a small proxy that forwards one request at a time:
//! our side stays truly concurrent, the emulator's side is serialised as real
//! AWS's per-request atomicity would make it.

mod accounts;
mod env;
pub mod faults;
mod fixtures;
mod gate;
pub mod http1;
mod proxy;
pub mod runtime_api;
pub mod standin;
pub mod trail;

pub use accounts::*;
pub use env::*;
pub use fixtures::*;
pub use gate::*;
pub use proxy::*;

pub use faults::{Fault, FaultInjector};

pub use audit_grants::service::{Mode, SweepOptions};

pub const AUDITOR: &str = "210987654321";
pub const AUDITOR_ROLE: &str = "arn:aws:iam::210987654321:role/ExternalAuditor";
pub const ROLE_PATH: &str = "/audit-grants/";
/// The demo webhook secret the README names; `events/http-*.json` are signed with it.
pub const DEMO_SECRET: &str = "audit-grants-demo-webhook-secret";
/// The demo bearer token (for senders that cannot sign).
pub const DEMO_BEARER: &str = "audit-grants-demo-bearer-token-01";

/// The emulator's address; a clear failure when the tests were run without it.
/// Each test binary starts from an empty emulator (cargo runs them one after
/// another): moto slows down as emulated accounts pile up.
pub fn emulator() -> String {
    let endpoint = std::env::var("AUDIT_GRANTS_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "AUDIT_GRANTS_TEST_ENDPOINT is not set: run the tests through `make test` \
             (or `scripts/moto.sh cargo test`), which starts the local AWS emulator"
        )
    });
    static RESET: std::sync::Once = std::sync::Once::new();
    RESET.call_once(|| reset_emulator(&endpoint));
    endpoint
}

fn reset_emulator(endpoint: &str) {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).expect("the emulator answers");
    write!(
        conn,
        "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "moto reset: {answer}");
}
