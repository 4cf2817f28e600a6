//! Prints, as one JSON object, every IAM policy document the function produces
//! for a sample grant (trust, AuditGrantWindow, revoke-sessions, trust-no-one,
//! the permissions boundary, the auditor's own policy) and the presets' policy ARNs: the input of the
//! independent IAM evaluation in `tests/iam/` (run by `make test`).

use audit_grants::domain::{
    AccessPreset, ExternalId, Partition, PrincipalArn, Window, parse_timestamp,
};
use audit_grants::policy;
use serde_json::json;

fn main() {
    let start = parse_timestamp("2026-12-01T09:00:00Z").expect("a time");
    let end = parse_timestamp("2026-12-04T09:00:00Z").expect("a time");
    let window = Window::new(start, end).expect("a window");
    let principals = [
        PrincipalArn::parse("arn:aws:iam::210987654321:role/ExternalAuditor").expect("an ARN"),
        PrincipalArn::parse("arn:aws:iam::210987654321:user/jane").expect("an ARN"),
    ];
    let external_id = ExternalId::parse("agreed-external-id-42").expect("an external ID");
    let revoked_at = parse_timestamp("2026-12-02T10:00:00Z").expect("a time");
    let presets: serde_json::Map<String, serde_json::Value> = AccessPreset::ALL
        .iter()
        .map(|p| (p.as_str().to_owned(), json!(p.policy_arn(Partition::Aws))))
        .collect();
    let documents = json!({
        "grant": {
            "account": "123456789012",
            "role_arn": "arn:aws:iam::123456789012:role/audit-grants/audit-AUD-1042-e8416c13",
            "auditor_account": "210987654321",
            "principals": principals.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "external_id": external_id.as_str(),
            "start": "2026-12-01T09:00:00Z",
            "end": "2026-12-04T09:00:00Z",
        },
        "trust": policy::trust_policy(&principals, &external_id, &window),
        "window_deny": policy::window_deny(&window),
        "revoke_sessions": {
            "at": "2026-12-02T10:00:00Z",
            "document": policy::revoke_older_sessions(revoked_at),
        },
        "trust_no_one": policy::trust_no_one(),
        "auditor_policy": policy::auditor_policy([
            "arn:aws:iam::123456789012:role/audit-grants/audit-AUD-1042-e8416c13",
        ]),
        "boundary": policy::permissions_boundary(),
        "presets": presets,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&documents).expect("JSON serialises")
    );
}
