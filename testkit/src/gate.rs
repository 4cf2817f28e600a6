//! The IAM gate (`tests/iam/gate.mjs`) in front of the emulator, and an
//! auditor's own account on it: what the auditor's side needs to be shown end
//! to end, since the emulator itself evaluates no IAM policy.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::*;

/// A running gate; stopped when dropped.
pub struct Gate {
    child: Child,
    pub url: String,
}

impl Gate {
    /// Starts the gate in front of `upstream` (the emulator, or its proxy),
    /// installing the evaluator's pinned packages first if they are missing.
    pub fn start(upstream: &str) -> Gate {
        let dir = project_dir().join("tests/iam");
        if !dir
            .join("node_modules/@cloud-copilot/iam-simulate")
            .exists()
        {
            let installed = Command::new(dir.join("install.sh"))
                .status()
                .expect("tests/iam/install.sh runs");
            assert!(installed.success(), "tests/iam/install.sh failed");
        }
        let mut child = Command::new("node")
            .arg("gate.mjs")
            .args(["--upstream", upstream, "--port", "0"])
            .current_dir(&dir)
            .env("TZ", "UTC")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs the IAM gate");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the gate says where it listens");
        let url = line
            .trim()
            .strip_prefix("iam-gate listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the gate: {line:?}"))
            .to_owned();
        Gate { child, url }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The auditor's own account as the audit team sets it up: their role, with
/// (or without) the grant's `auditor_policy`, signed in as session "alice",
/// and the handed-over profile in an AWS config file of its own.
pub struct AuditorSide {
    pub dir: tempfile::TempDir,
    pub role_arn: String,
}

impl AuditorSide {
    /// Makes the role `principal` (in its account) and signs in as it.
    pub async fn sign_in(view: &Value, principal: &str, attach_policy: bool) -> AuditorSide {
        let account = principal.split(':').nth(4).expect("a principal ARN");
        let name = principal.rsplit('/').next().expect("a role name");
        let clients = clients_in(account, &CallLog::default()).await;
        let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "sts:AssumeRole"}]});
        let _ = clients
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await;
        if attach_policy {
            clients
                .iam
                .put_role_policy()
                .role_name(name)
                .policy_name("audit-grants-auditor")
                .policy_document(view["auditor_policy"].to_string())
                .send()
                .await
                .expect("the auditor attaches auditor_policy");
        }
        let home = default_account_clients(&CallLog::default()).await;
        let creds = home
            .sts
            .assume_role()
            .role_arn(principal)
            .role_session_name("alice")
            .send()
            .await
            .expect("the auditor signs in")
            .credentials
            .expect("credentials");
        let dir = tempfile::tempdir().expect("a temp dir");
        let profile = view["aws_config_profile"].as_str().expect("the profile");
        std::fs::write(
            dir.path().join("config"),
            format!("[default]\nregion = us-east-1\n\n{profile}"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("credentials"),
            format!(
                "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
                creds.access_key_id(),
                creds.secret_access_key(),
                creds.session_token()
            ),
        )
        .unwrap();
        AuditorSide {
            dir,
            role_arn: principal.to_owned(),
        }
    }

    /// Rewrites one line of the handed-over profile (`key = value`).
    pub fn edit_profile(&self, key: &str, value: &str) {
        let path = self.dir.path().join("config");
        let text = std::fs::read_to_string(&path).unwrap();
        let edited: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{key} = ")) {
                    format!("{key} = {value}")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        std::fs::write(&path, edited.join("\n") + "\n").unwrap();
    }

    /// `audit-grants check-access ARGS` with only the auditor's credentials
    /// (no AWS_ACCESS_KEY_ID in the environment), against `endpoint`:
    /// (exit code, stdout).
    pub fn check_access(&self, endpoint: &str, args: &[&str]) -> (i32, String) {
        let out = Command::new(binary_path())
            .arg("check-access")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("RUST_LOG", "warn")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_CONFIG_FILE", self.dir.path().join("config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("credentials"),
            )
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}
