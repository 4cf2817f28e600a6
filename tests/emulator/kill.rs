//! The binary killed (SIGKILL, not an error returned) between any two of its
//! AWS calls, during a grant and during a teardown: one more sweep converges.
//! The kill happens in a proxy in front of the emulator, when the chosen
//! request arrives, before it reaches AWS.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use audit_grants::domain::{GrantStatus, Ticket, format_timestamp};
use common::*;

const TICKET: &str = "AUD-KILL";

struct Binary {
    proxy: String,
    account: String,
    table: String,
}

impl Binary {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = binary(&self.proxy, &self.table, &self.account);
        cmd.args(args)
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }
}

fn grant_args() -> Vec<&'static str> {
    vec![
        "grant",
        "--ticket",
        TICKET,
        "--auditor-account",
        AUDITOR,
        "--principal",
        AUDITOR_ROLE,
        "--duration",
        "72h",
        "--requested-by",
        "ops",
    ]
}

/// Runs `args`, killing the process when its `kill_at`-th AWS request arrives.
/// Returns how many requests it made (when not killed).
fn run_killed(account: &str, table: &str, args: &[&str], kill_at: Option<usize>) -> usize {
    let child: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
    let count = Arc::new(Mutex::new(0usize));
    let hook: ProxyHook = {
        let (child, count) = (child.clone(), count.clone());
        Arc::new(move |n| {
            *count.lock().unwrap() = n;
            if Some(n) == kill_at {
                if let Some(c) = child.lock().unwrap().as_mut() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return false;
            }
            true
        })
    };
    let proxy = start_proxy(ProxyOptions {
        account: Some(account.to_owned()),
        hook: Some(hook),
    });
    let bin = Binary {
        proxy,
        account: account.to_owned(),
        table: table.to_owned(),
    };
    let spawned = bin.command(args).spawn().unwrap();
    *child.lock().unwrap() = Some(spawned);
    loop {
        let done = {
            let mut guard = child.lock().unwrap();
            let c = guard.as_mut().unwrap();
            c.try_wait().unwrap().is_some()
        };
        if done {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    *count.lock().unwrap()
}

struct Case {
    account: String,
    table: String,
    clients: audit_grants::aws::AwsClients,
    settings: Arc<audit_grants::config::Settings>,
}

impl Case {
    async fn new() -> Case {
        let account = fresh_account();
        let table = "audit-grants-kill".to_owned();
        let clients = clients_in(&account, &CallLog::default()).await;
        let mut settings = settings_for(&account, &[]);
        settings.table_name = table.clone();
        let settings = Arc::new(settings);
        audit_grants::wiring::setup(&clients, &settings)
            .await
            .unwrap();
        Case {
            account,
            table,
            clients,
            settings,
        }
    }

    fn run(&self, args: &[&str], kill_at: Option<usize>) -> usize {
        run_killed(&self.account, &self.table, args, kill_at)
    }

    async fn state(&self) -> (Option<GrantStatus>, bool, bool) {
        let identity: Arc<dyn audit_grants::ports::CallerIdentity> = Arc::new(
            audit_grants::aws::sts::StsIdentity::new(self.clients.sts.clone()),
        );
        let clock = TestClock::at(chrono::Utc::now());
        let service = TestEnv::service_over(&self.clients, &self.settings, &identity, &clock);
        let grant = service.get(&Ticket::parse(TICKET).unwrap()).await.ok();
        let role = self
            .clients
            .iam
            .get_role()
            .role_name(Ticket::parse(TICKET).unwrap().role_name())
            .send()
            .await
            .is_ok();
        let attached = if role {
            !self
                .clients
                .iam
                .list_attached_role_policies()
                .role_name(Ticket::parse(TICKET).unwrap().role_name())
                .send()
                .await
                .unwrap()
                .attached_policies()
                .is_empty()
        } else {
            false
        };
        (grant.map(|g| g.status), role, attached)
    }
}

fn later(hours: i64, minutes: i64) -> String {
    format_timestamp(
        chrono::Utc::now() + chrono::Duration::hours(hours) + chrono::Duration::minutes(minutes),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_grant_one_sweep_converges() {
    let probe = Case::new().await;
    let calls = probe.run(&grant_args(), None);
    assert!(calls >= 5, "{calls}");
    let mut matrix = vec![];
    for kill_at in 1..=calls {
        let case = Case::new().await;
        case.run(&grant_args(), Some(kill_at));
        // The invocation is gone; a sweep after the stale limit finishes the job.
        let sweep_at = later(0, 6);
        let n = case.run(&["sweep", "--as-of", &sweep_at], None);
        assert!(n > 0);
        let (status, role, attached) = case.state().await;
        match status {
            Some(GrantStatus::Active) => assert!(
                role && attached,
                "kill at {kill_at}: active but role incomplete"
            ),
            None => assert!(!role, "kill at {kill_at}: a role without a record"),
            Some(other) => panic!("kill at {kill_at}: unexpected {other}"),
        }
        matrix.push(format!(
            "kill before request {kill_at}: {:?}, role {}",
            status, role
        ));
    }
    eprintln!(
        "grant killed between steps ({} cases):\n{}",
        matrix.len(),
        matrix.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_teardown_one_more_sweep_converges() {
    let probe = Case::new().await;
    probe.run(&grant_args(), None);
    let after = later(73, 0);
    let calls = probe.run(&["sweep", "--as-of", &after], None);
    assert!(calls >= 10, "{calls}");
    assert_eq!(
        probe.state().await,
        (Some(GrantStatus::Expired), false, false)
    );
    let mut matrix = vec![];
    for kill_at in 1..=calls {
        let case = Case::new().await;
        case.run(&grant_args(), None);
        let after = later(73, 0);
        case.run(&["sweep", "--as-of", &after], Some(kill_at));
        let again = later(73, 6);
        case.run(&["sweep", "--as-of", &again], None);
        let state = case.state().await;
        assert_eq!(
            state,
            (Some(GrantStatus::Expired), false, false),
            "kill at {kill_at}"
        );
        matrix.push(format!("kill before request {kill_at}: expired, no role"));
    }
    eprintln!(
        "teardown killed between steps ({} cases):\n{}",
        matrix.len(),
        matrix.join("\n")
    );
}
