//! audit-grants: time-boxed, least-privilege, cross-account access for external
//! auditors, granted on request and reliably taken away.

pub mod app;
pub mod aws;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod lambda;
pub mod metrics;
pub mod policy;
pub mod ports;
pub mod service;
pub mod webhook;
