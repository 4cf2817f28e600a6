//! Every test that talks to the local AWS emulator (moto server, started by
//! `scripts/moto.sh`), through the real SDK and the real binary, as one test
//! binary: one link, one emulator reset, a module per capability.

use testkit as common;

mod auditor;
mod cli;
mod cross_account;
mod engagements;
mod events;
mod evidence;
mod faults;
mod grant_lifecycle;
mod hostile;
mod kill;
mod lambda_runtime;
mod notifications;
mod races;
mod reconcile;
mod teardown;
mod templates;
mod webhooks;
