//! audit-grants: time-boxed, least-privilege, cross-account access for external
//! auditors, granted on request and reliably taken away.

pub mod access;
pub mod aws;
pub mod cli;
pub mod command;
pub mod config;
pub mod domain;
pub mod error;
pub mod evidence;
/// In-memory ports with real semantics, for unit tests and benchmarks.
pub mod fakes;
pub mod lambda;
pub mod metrics;
pub mod policy;
pub mod ports;
pub mod service;
pub mod wiring;
