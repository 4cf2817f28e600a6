//! The evidence pack as people read it: `markdown` to paste into the ticket,
//! `html` as one self-contained page for the auditors' file. Both are pure
//! functions of the pack and give the same text for the same pack.
//!
//! Tickets, reasons, principals, error messages and CloudTrail fields all come
//! from outside: every one of them is escaped for the format it lands in, and
//! the page loads nothing (no script, font, image or stylesheet from anywhere;
//! its own Content-Security-Policy says so).

use serde_json::Value;

use super::pack::{
    AccountEvidence, Activity, CallRecord, Granted, Pack, Removal, RoleAsGranted, Session,
};
use crate::domain::{HistoryEvent, TeardownStep, format_duration, format_timestamp_precise};

/// Shown for a value the pack does not have.
const NONE: &str = "—";

/// The pack in Markdown, for pasting into a ticket (GitHub or Jira).
pub fn markdown(pack: &Pack) -> String {
    let mut md = Markdown::default();
    md.line(&format!("# Evidence pack: {}", md_text(&pack.ticket)));
    md.blank();
    md.line(&overview(pack).markdown_line());
    md.blank();
    md_approval(&mut md, pack);
    md_granted(&mut md, pack);
    md_state_changes(&mut md, pack);
    md_removal(&mut md, pack);
    md_activity(&mut md, pack);
    md.line("---");
    md.blank();
    md.line(&format!(
        "{} v{} · generated at {} by {}",
        md_text(pack.format),
        pack.version,
        md_text(&pack.generated_at),
        md_text(&pack.generated_by)
    ));
    md.0
}

/// The pack as one self-contained HTML5 page, printable.
pub fn html(pack: &Pack) -> String {
    let ticket = escape(&pack.ticket);
    let body = [
        html_summary(pack),
        html_approval(pack),
        html_granted(pack),
        html_timeline(pack),
        html_removal(pack),
        html_activity(pack),
    ]
    .concat();
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="{generated_by}">
<title>Evidence pack: {ticket}</title>
<style>{STYLE}</style>
</head>
<body>
<main data-ticket="{ticket}">
<header class="masthead">
<p class="eyebrow">audit-grants · evidence pack</p>
<h1>Evidence pack: <span class="ticket">{ticket}</span></h1>
<nav aria-label="Sections"><a href="#summary">Summary</a><a href="#approval">Approval</a><a href="#granted">Access as granted</a><a href="#timeline">State changes</a><a href="#removal">Proof of removal</a><a href="#activity">Recorded activity</a></nav>
</header>
{body}<footer>
<span>{format} · version {version}</span>
<span>generated at <time>{generated_at}</time> by {generated_by}</span>
</footer>
</main>
</body>
</html>
"##,
        generated_by = escape(&pack.generated_by),
        format = escape(pack.format),
        version = pack.version,
        generated_at = escape(&pack.generated_at),
    )
}

/// Text as HTML: safe between tags and inside double- or single-quoted attributes.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// What both formats say the same way

/// The pack in one line: status, accounts, window, removal and activity.
struct Overview {
    status: String,
    accounts: usize,
    start: String,
    end: String,
    removal: String,
    removal_failed: bool,
    calls: u64,
    denied: usize,
    incomplete: Vec<String>,
}

fn overview(pack: &Pack) -> Overview {
    let states: Vec<&str> = pack
        .accounts
        .iter()
        .map(|a| a.removal.state.as_str())
        .collect();
    let still_there: Vec<&str> = pack
        .accounts
        .iter()
        .filter(|a| a.removal.state == "role_still_exists")
        .map(|a| a.account.as_str())
        .collect();
    let removal = if !still_there.is_empty() {
        format!("role still exists in {}", still_there.join(", "))
    } else if !states.is_empty() && states.iter().all(|s| *s == "removed") {
        "removed in every account".to_owned()
    } else if !states.is_empty() && states.iter().all(|s| *s == "not_removed") {
        "not removed (grant live)".to_owned()
    } else {
        pack.accounts
            .iter()
            .map(|a| format!("{}: {}", a.account, removal_label(&a.removal.state)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Overview {
        status: pack.status.clone(),
        accounts: pack.accounts.len(),
        start: pack.grant.start.clone(),
        end: pack.grant.end.clone(),
        removal,
        removal_failed: !still_there.is_empty(),
        calls: pack.accounts.iter().map(|a| a.activity.total_calls).sum(),
        denied: pack
            .accounts
            .iter()
            .map(|a| a.activity.denied_calls.len())
            .sum(),
        incomplete: pack
            .accounts
            .iter()
            .filter(|a| !a.activity.complete)
            .map(|a| a.account.clone())
            .collect(),
    }
}

impl Overview {
    fn record(&self) -> String {
        if self.incomplete.is_empty() {
            "record complete".to_owned()
        } else {
            format!("record INCOMPLETE in {}", self.incomplete.join(", "))
        }
    }

    fn markdown_line(&self) -> String {
        let removal = if self.removal_failed {
            format!("**{}**", md_text(&self.removal.to_uppercase()))
        } else {
            md_text(&self.removal)
        };
        format!(
            "**Status: {}** · {} · window {} → {} · removal: {} · activity: {} calls, {} denied, {}",
            md_text(&self.status),
            plural(self.accounts, "account"),
            md_text(&self.start),
            md_text(&self.end),
            removal,
            self.calls,
            self.denied,
            md_text(&self.record()),
        )
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A removal state in words.
fn removal_label(state: &str) -> &str {
    match state {
        "removed" => "removed",
        "role_still_exists" => "role still exists",
        "not_removed" => "not removed (grant live)",
        other => other,
    }
}

fn seconds(n: i32) -> String {
    format!(
        "{n} s ({})",
        format_duration(chrono::Duration::seconds(n.into()))
    )
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    format_timestamp_precise(*t)
}

fn from_status(e: &HistoryEvent) -> &str {
    e.from.map_or("(new)", |s| s.as_str())
}

fn asked_by(e: &HistoryEvent) -> String {
    e.origin
        .as_ref()
        .map_or_else(|| "audit-grants (on its own)".to_owned(), |o| o.describe())
}

/// The statements of a policy document (`Statement` may be one object).
fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(all)) => all.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => vec![],
    }
}

/// The AWS principals a trust policy names, in order, once each.
fn trust_principals(trust: &Value) -> Vec<String> {
    let mut found: Vec<String> = vec![];
    for s in statements(trust) {
        let named = match s.get("Principal") {
            Some(Value::String(p)) => vec![p.clone()],
            Some(Value::Object(kinds)) => kinds
                .values()
                .flat_map(|v| match v {
                    Value::String(p) => vec![p.clone()],
                    Value::Array(ps) => ps
                        .iter()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect(),
                    _ => vec![],
                })
                .collect(),
            _ => vec![],
        };
        for p in named {
            if !found.contains(&p) {
                found.push(p);
            }
        }
    }
    found
}

/// Whether an `Allow` of the trust policy requires `sts:ExternalId`; `None`
/// when the pack has no trust policy to tell.
fn trust_requires_external_id(trust: &Value) -> Option<bool> {
    let all = statements(trust);
    if all.is_empty() {
        return None;
    }
    let requires = all.iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && s.get("Condition")
                .and_then(Value::as_object)
                .is_some_and(|ops| {
                    ops.values().any(|keys| {
                        keys.as_object().is_some_and(|k| {
                            k.keys().any(|k| k.eq_ignore_ascii_case("sts:ExternalId"))
                        })
                    })
                })
    });
    Some(requires)
}

/// What the pack may say of the external ID: never its value.
fn external_id_text(role: &RoleAsGranted, grant: &Granted) -> String {
    match trust_requires_external_id(&role.trust_policy) {
        Some(true) => "required (value not shown)".to_owned(),
        Some(false) => "NOT required by the trust policy".to_owned(),
        None => grant_external_id_text(grant),
    }
}

fn grant_external_id_text(grant: &Granted) -> String {
    match grant.external_id {
        s if s.starts_with("required") || s == "present" => "required (value not shown)".to_owned(),
        other => other.to_owned(),
    }
}

/// The window the trust policy enforces (`aws:CurrentTime`), if it has one.
fn trust_window(trust: &Value) -> Option<(String, String)> {
    let bound = |operator: &str| {
        statements(trust).into_iter().find_map(|s| {
            s.pointer(&format!("/Condition/{operator}/aws:CurrentTime"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    };
    Some((bound("DateGreaterThan")?, bound("DateLessThan")?))
}

fn role_window(role: &RoleAsGranted, grant: &Granted) -> String {
    match trust_window(&role.trust_policy) {
        Some((start, end)) => format!("{start} → {end} (trust policy)"),
        None => format!("{} → {}", grant.start, grant.end),
    }
}

fn window_deny_present(role: &RoleAsGranted) -> bool {
    !statements(&role.window_deny).is_empty()
}

fn pretty_json(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

// ---------------------------------------------------------------------------
// Markdown

#[derive(Default)]
struct Markdown(String);

impl Markdown {
    fn line(&mut self, text: &str) {
        self.0.push_str(text);
        self.0.push('\n');
    }

    fn blank(&mut self) {
        self.0.push('\n');
    }

    fn item(&mut self, label: &str, value: &str) {
        self.line(&format!("- {label}: {value}"));
    }

    fn heading(&mut self, level: usize, text: &str) {
        self.line(&format!("{} {text}", "#".repeat(level)));
        self.blank();
    }

    /// A table; every cell is made safe for one (pipes, line breaks).
    fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) {
        self.line(&md_row(headers.iter().map(|h| (*h).to_owned())));
        self.line(&md_row(headers.iter().map(|_| "---".to_owned())));
        for row in rows {
            self.line(&md_row(row.iter().cloned()));
        }
        self.blank();
    }
}

fn one_line(raw: &str) -> String {
    raw.replace("\r\n", " ").replace(['\n', '\r'], " ")
}

/// Free text: on one line, Markdown punctuation and HTML escaped.
fn md_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in one_line(raw).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '#' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An identifier as a code span, whatever backticks it holds.
fn md_code(raw: &str) -> String {
    let raw = one_line(raw);
    if raw.is_empty() {
        return NONE.to_owned();
    }
    let longest_run = raw.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let pad = if raw.starts_with('`') || raw.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{raw}{pad}{fence}")
}

fn md_code_opt(v: &Option<String>) -> String {
    v.as_deref().map_or_else(|| NONE.to_owned(), md_code)
}

fn md_text_opt(v: &Option<String>) -> String {
    v.as_deref().map_or_else(|| NONE.to_owned(), md_text)
}

/// A table row: a `|` inside a cell (even in a code span) is escaped, and a
/// line break would end the table.
fn md_row(cells: impl Iterator<Item = String>) -> String {
    let cells: Vec<String> = cells.map(|c| one_line(&c).replace('|', "\\|")).collect();
    format!("| {} |", cells.join(" | "))
}

fn md_approval(md: &mut Markdown, pack: &Pack) {
    let a = &pack.approval;
    md.heading(2, "Approval");
    md.item("Ticket", &md_code(&a.ticket));
    md.item("Requested by", &md_text(&a.requested_by));
    md.item("Requested at", &md_text(&a.requested_at));
    md.item("Reason", &md_text_opt(&a.reason));
    md.item("Sent by", &md_text(&a.sender_description));
    md.blank();
}

fn md_granted(md: &mut Markdown, pack: &Pack) {
    let g = &pack.grant;
    md.heading(2, "Access as granted");
    md.item("Auditor account", &md_code(&g.auditor_account));
    md.item(
        "Principals",
        &g.principals
            .iter()
            .map(|p| md_code(p))
            .collect::<Vec<_>>()
            .join(", "),
    );
    md.item("Access preset", &md_code(&g.access));
    md.item(
        "Window",
        &format!("{} → {}", md_text(&g.start), md_text(&g.end)),
    );
    md.item("Created at", &md_text(&g.created_at));
    md.item("Ended at", &md_text_opt(&g.ended_at));
    md.item("End reason", &md_text_opt(&g.end_reason));
    md.item("ExternalId", &md_text(&grant_external_id_text(g)));
    md.item("Max session", &md_text(&seconds(g.max_session_seconds)));
    md.blank();
    for account in &pack.accounts {
        let r = &account.role;
        md.heading(3, &format!("Account {}", md_text(&account.account)));
        md.item("Role ARN", &md_code(&r.role_arn));
        md.item("RoleId", &md_code_opt(&r.role_id));
        md.item("Role name", &md_code(&r.role_name));
        md.item("Path", &md_code(&r.path));
        md.item(
            "Trust principals",
            &trust_principals(&r.trust_policy)
                .iter()
                .map(|p| md_code(p))
                .collect::<Vec<_>>()
                .join(", "),
        );
        md.item("ExternalId", &md_text(&external_id_text(r, g)));
        md.item("Window", &md_text(&role_window(r, g)));
        md.item(
            "Permissions boundary",
            &format!(
                "{} (sha256 {})",
                md_code(&r.boundary_arn),
                md_code(&r.boundary_sha256)
            ),
        );
        md.item("Preset policy", &md_code(&r.preset_policy_arn));
        md.item(
            "Window deny (`AuditGrantWindow`)",
            if window_deny_present(r) {
                "present"
            } else {
                "**MISSING**"
            },
        );
        md.item("Max session", &md_text(&seconds(r.max_session_seconds)));
        if !r.tags.is_empty() {
            md.item(
                "Tags",
                &r.tags
                    .iter()
                    .map(|(k, v)| md_code(&format!("{k}={v}")))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
        md.blank();
    }
}

fn md_state_changes(md: &mut Markdown, pack: &Pack) {
    md.heading(2, "State changes");
    let rows: Vec<Vec<String>> = pack
        .history
        .iter()
        .map(|e| {
            vec![
                md_text(&time(&e.at)),
                format!("{} → {}", md_text(from_status(e)), md_text(e.to.as_str())),
                md_text(&e.reason),
                md_text(&asked_by(e)),
            ]
        })
        .collect();
    md.table(&["Time", "From → to", "Reason", "Asked by"], &rows);
}

fn md_removal(md: &mut Markdown, pack: &Pack) {
    md.heading(2, "Proof of removal");
    for account in &pack.accounts {
        let r = &account.removal;
        let label = removal_label(&r.state);
        let state = if r.state == "role_still_exists" {
            format!("**{}**", md_text(&label.to_uppercase()))
        } else {
            md_text(label)
        };
        md.heading(
            3,
            &format!("Account {}: {state}", md_text(&account.account)),
        );
        md.item("Role", &md_code(&account.role.role_arn));
        md.item("Teardown started", &md_text_opt(&r.teardown_started_at));
        md.item("Teardown finished", &md_text_opt(&r.teardown_finished_at));
        for step in &r.steps {
            md.item(&md_code(&step.step), &md_text(&time(&step.at)));
        }
        match &r.verified {
            Some(v) => md.item(
                "Verified",
                &format!(
                    "{} at {}: {}",
                    md_code(&v.call),
                    md_text(&v.checked_at),
                    md_text(&v.answer)
                ),
            ),
            None => md.item("Verified", "not checked"),
        }
        md.blank();
    }
}

fn md_activity(md: &mut Markdown, pack: &Pack) {
    md.heading(2, "Recorded activity");
    for account in &pack.accounts {
        let a = &account.activity;
        md.heading(3, &format!("Account {}", md_text(&account.account)));
        md.item("Source", &md_text(&a.source));
        md.item(
            "Range",
            &format!("{} → {}", md_text(&a.from), md_text(&a.to)),
        );
        md.item(
            "Record",
            if a.complete {
                "complete"
            } else {
                "**INCOMPLETE**: calls may be missing (see the notes)"
            },
        );
        for note in &a.notes {
            md.item("Note", &md_text(note));
        }
        md.item("Sessions", &a.sessions.len().to_string());
        md.item("Calls", &a.total_calls.to_string());
        md.item("Denied calls", &a.denied_calls.len().to_string());
        md.item("First use", &md_text_opt(&a.first_use));
        md.item("Last use", &md_text_opt(&a.last_use));
        md.blank();
        if !a.sessions.is_empty() {
            md.line("**Sessions**");
            md.blank();
            md.table(
                &[
                    "Assumed at",
                    "By",
                    "Session name",
                    "Source identity",
                    "Source IP",
                    "Access key",
                    "Calls",
                ],
                &a.sessions.iter().map(md_session_row).collect::<Vec<_>>(),
            );
        }
        md.line("**Calls by service and action**");
        md.blank();
        if a.by_action.is_empty() {
            md.line("No calls recorded.");
            md.blank();
        } else {
            md.table(
                &["Service", "Action", "Calls", "Denied"],
                &a.by_action
                    .iter()
                    .map(|c| {
                        vec![
                            md_code(&c.service),
                            md_code(&c.action),
                            c.calls.to_string(),
                            c.denied.to_string(),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
        }
        if !a.source_ips.is_empty() {
            md.line("**Source IPs**");
            md.blank();
            md.table(
                &["Source IP", "Calls"],
                &a.source_ips
                    .iter()
                    .map(|i| vec![md_code(&i.ip), i.calls.to_string()])
                    .collect::<Vec<_>>(),
            );
        }
        md.line("**Denied calls**");
        md.blank();
        if a.denied_calls.is_empty() {
            md.line("No denied calls.");
            md.blank();
        } else {
            md_calls(md, &a.denied_calls);
        }
        if !a.refused_assumes.is_empty() {
            md.line("**Refused AssumeRole**");
            md.blank();
            md_calls(md, &a.refused_assumes);
        }
    }
}

fn md_session_row(s: &Session) -> Vec<String> {
    vec![
        md_text(&s.assumed_at),
        md_code_opt(&s.assumed_by),
        md_code_opt(&s.session_name),
        md_code_opt(&s.source_identity),
        md_code_opt(&s.source_ip),
        md_code(&s.access_key_id),
        s.calls.to_string(),
    ]
}

fn md_calls(md: &mut Markdown, calls: &[CallRecord]) {
    md.table(
        &[
            "Time",
            "Service",
            "Action",
            "Error",
            "Message",
            "Source IP",
            "By",
            "Event ID",
        ],
        &calls
            .iter()
            .map(|c| {
                vec![
                    md_text(&c.at),
                    md_code(&c.service),
                    md_code(&c.action),
                    md_code_opt(&c.error_code),
                    md_text_opt(&c.error_message),
                    md_code_opt(&c.source_ip),
                    md_code_opt(&c.by),
                    md_code(&c.event_id),
                ]
            })
            .collect::<Vec<_>>(),
    );
}

// ---------------------------------------------------------------------------
// HTML

fn code(raw: &str) -> String {
    format!("<code>{}</code>", escape(raw))
}

fn code_opt(v: &Option<String>) -> String {
    v.as_deref()
        .map_or_else(|| format!(r#"<span class="none">{NONE}</span>"#), code)
}

fn text_opt(v: &Option<String>) -> String {
    v.as_deref()
        .map_or_else(|| format!(r#"<span class="none">{NONE}</span>"#), escape)
}

/// A definition list; labels are ours, values are HTML already escaped.
fn facts(rows: &[(&str, String)]) -> String {
    let items: String = rows
        .iter()
        .map(|(label, value)| format!("<dt>{label}</dt><dd>{value}</dd>\n"))
        .collect();
    format!("<dl class=\"facts\">\n{items}</dl>\n")
}

/// A table; cells are HTML already escaped. With no rows the body stays empty
/// (row counts stay true) and the footer says so.
fn table(
    class: &str,
    headers: &[&str],
    rows: &[Vec<String>],
    empty: &str,
    totals: Option<Vec<String>>,
) -> String {
    let head: String = headers.iter().map(|h| format!("<th>{h}</th>")).collect();
    let body: String = rows
        .iter()
        .map(|r| {
            let cells: String = r.iter().map(|c| format!("<td>{c}</td>")).collect();
            format!("<tr>{cells}</tr>\n")
        })
        .collect();
    let foot = match (rows.is_empty(), totals) {
        (true, _) => format!(
            r#"<tfoot><tr><td class="empty" colspan="{}">{empty}</td></tr></tfoot>"#,
            headers.len()
        ),
        (false, Some(t)) => {
            let cells: String = t.iter().map(|c| format!("<td>{c}</td>")).collect();
            format!("<tfoot><tr>{cells}</tr></tfoot>")
        }
        (false, None) => String::new(),
    };
    format!(
        "<table class=\"{class}\">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>{foot}\n</table>\n"
    )
}

/// The CSS class of a grant status (only known names reach the class attribute).
fn status_class(status: &str) -> &'static str {
    match status {
        "pending" => "status-pending",
        "active" => "status-active",
        "revoking" => "status-revoking",
        "expired" => "status-expired",
        "revoked" => "status-revoked",
        "failed" => "status-failed",
        _ => "status-other",
    }
}

fn status_badge(status: &str) -> String {
    format!(
        r#"<span class="badge {}">{}</span>"#,
        status_class(status),
        escape(status)
    )
}

fn removal_badge(state: &str) -> String {
    let class = match state {
        "removed" => "removal-removed",
        "role_still_exists" => "removal-still-exists",
        "not_removed" => "removal-live",
        _ => "removal-other",
    };
    format!(
        r#"<span class="badge {class}">{}</span>"#,
        escape(removal_label(state))
    )
}

fn section(id: &str, title: &str, inner: &str) -> String {
    format!("<section id=\"{id}\">\n<h2>{title}</h2>\n{inner}</section>\n")
}

fn html_summary(pack: &Pack) -> String {
    let o = overview(pack);
    let removal_class = if o.removal_failed {
        "card alarm"
    } else {
        "card"
    };
    let record_class = if o.incomplete.is_empty() {
        "card"
    } else {
        "card warn"
    };
    let cards = format!(
        r#"<div class="cards">
<div class="card"><div class="label">Status</div><div class="value">{status}</div></div>
<div class="card"><div class="label">Window</div><div class="value small">{start}<br>→ {end}</div></div>
<div class="card"><div class="label">Accounts</div><div class="value">{accounts}</div></div>
<div class="{removal_class}"><div class="label">Removal</div><div class="value small">{removal}</div></div>
<div class="{record_class}"><div class="label">Activity</div><div class="value small">{calls} calls, {denied} denied<br>{record}</div></div>
</div>
"#,
        status = status_badge(&o.status),
        start = escape(&o.start),
        end = escape(&o.end),
        accounts = o.accounts,
        removal = escape(&o.removal),
        calls = o.calls,
        denied = o.denied,
        record = escape(&o.record()),
    );
    let line = format!(
        "<p class=\"summary-line\">Grant <strong>{}</strong> is <strong>{}</strong>: {} for {} in {}, {} → {}.</p>\n",
        escape(&pack.ticket),
        escape(&pack.status),
        code(&pack.grant.access),
        escape(&pack.grant.principals.join(", ")),
        escape(&plural(o.accounts, "account")),
        escape(&o.start),
        escape(&o.end),
    );
    section("summary", "Summary", &format!("{line}{cards}"))
}

fn html_approval(pack: &Pack) -> String {
    let a = &pack.approval;
    section(
        "approval",
        "Approval",
        &facts(&[
            ("Ticket", code(&a.ticket)),
            ("Requested by", escape(&a.requested_by)),
            ("Requested at", escape(&a.requested_at)),
            ("Reason", text_opt(&a.reason)),
            ("Sent by", code(&a.sender_description)),
        ]),
    )
}

fn html_granted(pack: &Pack) -> String {
    let g = &pack.grant;
    let principals: String = g
        .principals
        .iter()
        .map(|p| format!("{}<br>", code(p)))
        .collect();
    let mut inner = facts(&[
        ("Auditor account", code(&g.auditor_account)),
        ("Principals", principals),
        ("Access preset", code(&g.access)),
        (
            "Window",
            format!("{} → {}", escape(&g.start), escape(&g.end)),
        ),
        ("Created at", escape(&g.created_at)),
        ("Ended at", text_opt(&g.ended_at)),
        ("End reason", text_opt(&g.end_reason)),
        ("ExternalId", escape(&grant_external_id_text(g))),
        ("Max session", escape(&seconds(g.max_session_seconds))),
    ]);
    inner.push_str(&format!(
        "<details><summary>Identity policy for the auditor's account</summary><pre>{}</pre></details>\n",
        escape(&pretty_json(&g.auditor_policy))
    ));
    for account in &pack.accounts {
        inner.push_str(&html_role(account, g));
    }
    section("granted", "Access as granted", &inner)
}

fn html_role(account: &AccountEvidence, g: &Granted) -> String {
    let r = &account.role;
    let principals: String = trust_principals(&r.trust_policy)
        .iter()
        .map(|p| format!("{}<br>", code(p)))
        .collect();
    let window_deny = if window_deny_present(r) {
        r#"<span class="ok">present</span> (<code>AuditGrantWindow</code>)"#.to_owned()
    } else {
        r#"<span class="bad">MISSING</span>"#.to_owned()
    };
    let external_id = external_id_text(r, g);
    let external_id = if external_id.starts_with("required") {
        escape(&external_id)
    } else {
        format!(r#"<span class="bad">{}</span>"#, escape(&external_id))
    };
    let tags: String = r
        .tags
        .iter()
        .map(|(k, v)| format!("{}<br>", code(&format!("{k}={v}"))))
        .collect();
    format!(
        "<article class=\"account\">\n<h3>Account {}</h3>\n{}<details><summary>Trust policy and window deny as written</summary><pre>{}</pre><pre>{}</pre></details>\n</article>\n",
        escape(&account.account),
        facts(&[
            ("Role ARN", code(&r.role_arn)),
            ("RoleId", code_opt(&r.role_id)),
            ("Role name", code(&r.role_name)),
            ("Path", code(&r.path)),
            ("Trust principals", principals),
            ("ExternalId", external_id),
            ("Window", escape(&role_window(r, g))),
            (
                "Permissions boundary",
                format!(
                    "{}<br>sha256 {}",
                    code(&r.boundary_arn),
                    code(&r.boundary_sha256)
                ),
            ),
            ("Preset policy", code(&r.preset_policy_arn)),
            ("Window deny", window_deny),
            ("Max session", escape(&seconds(r.max_session_seconds))),
            ("Tags", tags),
        ]),
        escape(&pretty_json(&r.trust_policy)),
        escape(&pretty_json(&r.window_deny)),
    )
}

fn html_timeline(pack: &Pack) -> String {
    let events: String = pack.history.iter().map(html_event).collect();
    let inner = if pack.history.is_empty() {
        "<p class=\"empty\">No state change recorded.</p>\n".to_owned()
    } else {
        format!("<ol class=\"timeline\">\n{events}</ol>\n")
    };
    section("timeline", "State changes", &inner)
}

fn html_event(e: &HistoryEvent) -> String {
    let mut details = String::new();
    for removal in &e.removal {
        details.push_str(&format!(
            "<div class=\"event-removal\">{} in {}: {}{}</div>\n",
            code(&removal.role_arn),
            escape(&removal.account),
            escape(&removal.outcome),
            html_steps(&removal.steps),
        ));
    }
    if let Some(copy) = &e.evidence {
        details.push_str(&format!(
            "<div class=\"event-evidence\">Evidence pack kept: {} sha256 {}</div>\n",
            code(&copy.describe()),
            code(&copy.sha256)
        ));
    }
    format!(
        "<li class=\"event {class}\">\n<div class=\"event-head\"><time>{at}</time>{badge}<span class=\"from\">from {from}</span></div>\n<p class=\"reason\">{reason}</p>\n<p class=\"who\">Asked by {who}</p>\n{details}</li>\n",
        class = status_class(e.to.as_str()),
        at = escape(&time(&e.at)),
        badge = status_badge(e.to.as_str()),
        from = escape(from_status(e)),
        reason = escape(&e.reason),
        who = code(&asked_by(e)),
    )
}

fn html_steps(steps: &[TeardownStep]) -> String {
    if steps.is_empty() {
        return String::new();
    }
    let items: String = steps
        .iter()
        .map(|s| {
            format!(
                "<li>{} <time>{}</time></li>",
                code(&s.step),
                escape(&time(&s.at))
            )
        })
        .collect();
    format!("<ol class=\"steps\">{items}</ol>")
}

fn html_removal(pack: &Pack) -> String {
    let inner: String = pack
        .accounts
        .iter()
        .map(|a| html_account_removal(a, &a.removal))
        .collect();
    section("removal", "Proof of removal", &inner)
}

fn html_account_removal(account: &AccountEvidence, r: &Removal) -> String {
    let verified = match &r.verified {
        Some(v) => {
            let class = if v.role_exists { "bad" } else { "ok" };
            format!(
                r#"<p class="verification {class}">{} at <time>{}</time>: {}</p>"#,
                code(&v.call),
                escape(&v.checked_at),
                escape(&v.answer)
            )
        }
        None => r#"<p class="verification none">IAM not checked.</p>"#.to_owned(),
    };
    format!(
        "<article class=\"account removal\">\n<h3>Account {} {}</h3>\n{}{}{}\n</article>\n",
        escape(&account.account),
        removal_badge(&r.state),
        facts(&[
            ("Role", code(&account.role.role_arn)),
            ("Teardown started", text_opt(&r.teardown_started_at)),
            ("Teardown finished", text_opt(&r.teardown_finished_at)),
        ]),
        html_steps(&r.steps),
        verified,
    )
}

fn html_activity(pack: &Pack) -> String {
    let inner: String = pack
        .accounts
        .iter()
        .map(|a| html_account_activity(&a.account, &a.activity))
        .collect();
    section("activity", "Recorded activity", &inner)
}

fn html_account_activity(account: &str, a: &Activity) -> String {
    let notes: String = a
        .notes
        .iter()
        .map(|n| format!("<li>{}</li>", escape(n)))
        .collect();
    let record = if a.complete {
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("<ul class=\"notes\">{notes}</ul>\n")
        };
        format!(
            "<p class=\"record ok\">Record complete: every lookup read every page.</p>\n{notes}"
        )
    } else {
        format!(
            "<div class=\"callout incomplete\" role=\"alert\"><strong>Record incomplete: calls may be missing.</strong><ul class=\"notes\">{notes}</ul></div>\n"
        )
    };
    let stats = format!(
        r#"<div class="cards">
<div class="card"><div class="label">Sessions</div><div class="value">{}</div></div>
<div class="card"><div class="label">Calls</div><div class="value">{}</div></div>
<div class="card"><div class="label">Denied</div><div class="value">{}</div></div>
<div class="card"><div class="label">First use</div><div class="value small">{}</div></div>
<div class="card"><div class="label">Last use</div><div class="value small">{}</div></div>
</div>
"#,
        a.sessions.len(),
        a.total_calls,
        a.denied_calls.len(),
        text_opt(&a.first_use),
        text_opt(&a.last_use),
    );
    let by_action: Vec<Vec<String>> = a
        .by_action
        .iter()
        .map(|c| {
            vec![
                code(&c.service),
                code(&c.action),
                num(c.calls),
                if c.denied > 0 {
                    format!(r#"<span class="bad">{}</span>"#, c.denied)
                } else {
                    num(0)
                },
            ]
        })
        .collect();
    let totals = vec![
        "<strong>Total</strong>".to_owned(),
        String::new(),
        num(a.by_action.iter().map(|c| c.calls).sum()),
        num(a.by_action.iter().map(|c| c.denied).sum()),
    ];
    let sessions: Vec<Vec<String>> = a
        .sessions
        .iter()
        .map(|s| {
            vec![
                escape(&s.assumed_at),
                wrap(&code_wrap(&s.assumed_by)),
                code_opt(&s.session_name),
                wrap(&code_opt(&s.source_identity)),
                code_opt(&s.source_ip),
                code(&s.access_key_id),
                num(s.calls),
            ]
        })
        .collect();
    let ips: Vec<Vec<String>> = a
        .source_ips
        .iter()
        .map(|i| vec![code(&i.ip), num(i.calls)])
        .collect();
    let refused = if a.refused_assumes.is_empty() {
        String::new()
    } else {
        format!(
            "<h4>Refused AssumeRole</h4>\n{}",
            calls_table("refused-table", &a.refused_assumes, "")
        )
    };
    format!(
        "<article class=\"account\">\n<h3>Account {account}</h3>\n{facts}{record}{stats}<h4>Calls by service and action</h4>\n{by_action}<h4>Denied calls</h4>\n{denied}{refused}<h4>Sessions</h4>\n{sessions}<h4>Source IPs</h4>\n{ips}</article>\n",
        account = escape(account),
        facts = facts(&[
            ("Source", escape(&a.source)),
            ("Range", format!("{} → {}", escape(&a.from), escape(&a.to))),
        ]),
        by_action = table(
            "activity-table",
            &["Service", "Action", "Calls", "Denied"],
            &by_action,
            "No calls recorded.",
            Some(totals),
        ),
        denied = calls_table("denied-table", &a.denied_calls, "No denied calls."),
        sessions = table(
            "sessions-table",
            &[
                "Assumed at",
                "By",
                "Session name",
                "Source identity",
                "Source IP",
                "Access key",
                "Calls"
            ],
            &sessions,
            "No session issued.",
            None,
        ),
        ips = table("ips-table", &["Source IP", "Calls"], &ips, "None.", None),
    )
}

/// An identifier that may break after each `/` (ARNs, session principals).
fn code_wrap(v: &Option<String>) -> String {
    match v {
        Some(raw) => format!("<code>{}</code>", escape(raw).replace('/', "/<wbr>")),
        None => code_opt(&None),
    }
}

/// A cell that may wrap anywhere (long ARNs, messages); the others stay on one line.
fn wrap(html: &str) -> String {
    format!(r#"<div class="wrap">{html}</div>"#)
}

fn num(n: u64) -> String {
    format!(r#"<span class="num">{n}</span>"#)
}

fn calls_table(class: &str, calls: &[CallRecord], empty: &str) -> String {
    let rows: Vec<Vec<String>> = calls
        .iter()
        .map(|c| {
            vec![
                format!(
                    r#"{}<div class="event-id">{}</div>"#,
                    escape(&c.at),
                    code(&c.event_id)
                ),
                code(&c.service),
                code(&c.action),
                code_opt(&c.error_code),
                format!(
                    r#"<div class="wrap message">{}</div>"#,
                    text_opt(&c.error_message)
                ),
                format!(
                    r#"<div class="wrap caller">{}<br>{}<br>{}</div>"#,
                    code_wrap(&c.by),
                    code_opt(&c.access_key_id),
                    code_opt(&c.source_ip)
                ),
            ]
        })
        .collect();
    table(
        class,
        &[
            "Time · event ID",
            "Service",
            "Action",
            "Error",
            "Message",
            "By · access key · source IP",
        ],
        &rows,
        empty,
        None,
    )
}

/// The page's only style: system fonts, quiet colours, tables that print.
const STYLE: &str = r#"
:root {
  --ink: #1f2933; --muted: #5f6b7a; --line: #d8dee6; --soft: #f3f5f8; --page: #eef1f5;
  --accent: #2f5d8a; --ok: #1d6f42; --ok-bg: #e2f3e8; --bad: #b42318; --bad-bg: #fde7e4;
  --warn: #8a5300; --warn-bg: #fff3d6; --grey: #4b5563; --grey-bg: #e9edf1;
}
* { box-sizing: border-box; }
html {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", "Liberation Sans", Arial, sans-serif;
  font-size: 15px; line-height: 1.5; color: var(--ink); background: var(--page);
}
body { margin: 0; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 40px; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 0.84em; }
code { overflow-wrap: anywhere; background: var(--soft); border-radius: 3px; padding: 0 3px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 10px 12px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
h1, h2, h3, h4 { line-height: 1.25; margin: 0; }
h1 { font-size: 1.75rem; font-weight: 650; }
h1 .ticket { color: var(--accent); }
h2 { font-size: 1.2rem; font-weight: 650; padding-bottom: 8px; margin-bottom: 14px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.02rem; font-weight: 650; margin: 18px 0 10px; display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
h4 { font-size: 0.78rem; font-weight: 650; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); margin: 18px 0 6px; }
.masthead { margin-bottom: 18px; }
.eyebrow { margin: 0 0 4px; font-size: 0.78rem; letter-spacing: 0.08em; text-transform: uppercase; color: var(--muted); }
nav { margin-top: 12px; display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 0.88rem; }
nav a { color: var(--accent); text-decoration: none; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 18px 22px 20px; margin: 0 0 18px; }
article.account { border-top: 1px solid var(--line); margin-top: 16px; }
section > h2 + article.account, section > h2 + * + article.account { border-top: 0; }
.summary-line { margin: 0 0 14px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 10px; margin: 10px 0 6px; }
.card { border: 1px solid var(--line); border-radius: 5px; padding: 8px 12px; background: var(--soft); }
.card .label { font-size: 0.72rem; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); }
.card .value { font-size: 1.15rem; font-weight: 600; margin-top: 2px; }
.card .value.small { font-size: 0.88rem; font-weight: 500; }
.card.alarm { background: var(--bad-bg); border-color: #f3b8b0; color: var(--bad); }
.card.warn { background: var(--warn-bg); border-color: #f0d49a; color: var(--warn); }
dl.facts { display: grid; grid-template-columns: 190px 1fr; gap: 5px 16px; margin: 0 0 10px; }
dl.facts dt { color: var(--muted); font-size: 0.9rem; }
dl.facts dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
details { margin: 8px 0 4px; font-size: 0.9rem; }
details summary { cursor: pointer; color: var(--accent); }
table { width: 100%; border-collapse: collapse; margin: 4px 0 8px; font-size: 0.88rem; }
th, td { text-align: left; vertical-align: top; padding: 6px 9px; border-bottom: 1px solid var(--line); }
td { white-space: nowrap; }
td .wrap { white-space: normal; overflow-wrap: anywhere; min-width: 7em; }
td .wrap.message { min-width: 12em; }
td .wrap.caller { min-width: 12.5em; }
td .event-id { white-space: normal; overflow-wrap: anywhere; width: 0; min-width: 100%; font-size: 0.85em; color: var(--muted); margin-top: 2px; }
thead th { background: var(--soft); font-weight: 600; font-size: 0.78rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); border-bottom: 1px solid #c6cfd9; }
tbody tr:nth-child(even) td { background: #fafbfc; }
tfoot td { font-weight: 600; border-bottom: 0; border-top: 1px solid #c6cfd9; }
tfoot td.empty, p.empty { font-weight: 400; color: var(--muted); font-style: italic; }
.num { font-variant-numeric: tabular-nums; }
.activity-table td:nth-child(n+3), .activity-table th:nth-child(n+3) { text-align: right; width: 90px; }
.sessions-table td:last-child, .sessions-table th:last-child, .ips-table td:last-child, .ips-table th:last-child { text-align: right; }
table.ips-table { width: auto; min-width: 320px; }
tfoot td.empty { white-space: normal; }
.none { color: var(--muted); }
.ok { color: var(--ok); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.badge { display: inline-block; font-size: 0.75rem; font-weight: 650; letter-spacing: 0.03em; padding: 2px 9px; border-radius: 999px; border: 1px solid transparent; white-space: nowrap; vertical-align: middle; }
.badge.status-active { background: #e1efff; color: #1d4f8f; border-color: #b7d3f5; }
.badge.status-pending, .badge.status-expired, .badge.status-other { background: var(--grey-bg); color: var(--grey); border-color: #cfd6de; }
.badge.status-revoking { background: var(--warn-bg); color: var(--warn); border-color: #f0d49a; }
.badge.status-revoked { background: #efe7fb; color: #5b3696; border-color: #d5c4f0; }
.badge.status-failed { background: var(--bad-bg); color: var(--bad); border-color: #f3b8b0; }
.badge.removal-removed { background: var(--ok-bg); color: var(--ok); border-color: #a9dcbc; }
.badge.removal-still-exists { background: var(--bad); color: #fff; }
.badge.removal-live, .badge.removal-other { background: var(--grey-bg); color: var(--grey); border-color: #cfd6de; }
.verification { margin: 8px 0 0; padding: 7px 11px; border-radius: 4px; font-weight: 500; }
.verification.ok { background: var(--ok-bg); }
.verification.bad { background: var(--bad-bg); }
.verification.none { background: var(--grey-bg); color: var(--grey); }
.record.ok { font-weight: 500; margin: 4px 0; }
.callout.incomplete { background: var(--warn-bg); border: 1px solid #f0d49a; border-left: 4px solid #d18b00; color: #5c3a00; border-radius: 4px; padding: 10px 14px; margin: 8px 0 10px; }
.callout.incomplete ul { margin: 6px 0 0; padding-left: 20px; }
ul.notes { margin: 4px 0 8px; padding-left: 20px; }
ol.steps { margin: 6px 0 0; padding-left: 22px; font-size: 0.9rem; }
ol.steps time { color: var(--muted); margin-left: 6px; }
ol.timeline { list-style: none; margin: 0; padding: 0 0 0 4px; }
ol.timeline > li { position: relative; padding: 0 0 16px 26px; border-left: 2px solid var(--line); margin-left: 6px; }
ol.timeline > li:last-child { border-left-color: transparent; padding-bottom: 0; }
ol.timeline > li::before { content: ""; position: absolute; left: -7px; top: 4px; width: 12px; height: 12px; border-radius: 50%; background: #fff; border: 2px solid var(--accent); }
ol.timeline > li.status-failed::before { border-color: var(--bad); }
ol.timeline > li.status-revoked::before, ol.timeline > li.status-expired::before { background: var(--accent); }
.event-head { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
.event-head time { font-variant-numeric: tabular-nums; font-weight: 600; font-size: 0.92rem; }
.event-head .from { color: var(--muted); font-size: 0.85rem; }
.event .reason { margin: 3px 0 0; }
.event .who { margin: 2px 0 0; font-size: 0.85rem; color: var(--muted); }
.event-removal, .event-evidence { margin-top: 6px; font-size: 0.88rem; padding: 6px 10px; background: var(--soft); border-radius: 4px; }
footer { display: flex; justify-content: space-between; flex-wrap: wrap; gap: 6px 18px; font-size: 0.8rem; color: var(--muted); padding: 6px 2px; }
@page { margin: 14mm 12mm; }
@media print {
  html { background: #fff; font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  section { border: 0; border-radius: 0; padding: 0; margin: 0 0 14pt; }
  h2 { break-after: avoid; }
  h3, h4 { break-after: avoid; }
  tr, .card, ol.timeline > li, dl.facts { break-inside: avoid; }
  thead { display: table-header-group; }
  table { font-size: 8.5pt; }
  th, td { padding: 4px 6px; }
  td { white-space: normal; }
  td .wrap, td .wrap.message { min-width: 0; }
  td .wrap.caller { min-width: 11em; }
  td code { overflow-wrap: normal; }
  td .wrap code, td .event-id code { overflow-wrap: anywhere; }
  dl.facts { grid-template-columns: 150px 1fr; gap: 3px 12px; }
  .cards { grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); gap: 6px; }
  .card { padding: 6px 9px; }
  .card .value.small { font-size: 8.5pt; }
  details > summary { list-style: none; color: var(--muted); }
  details::details-content { content-visibility: visible; display: block; }
  pre { font-size: 7.5pt; padding: 6px 8px; }
  .badge, .card, .callout, .verification, thead th, code { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
@media screen and (max-width: 720px) {
  dl.facts { grid-template-columns: 1fr; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EvidenceCopy, GrantStatus, Origin, RoleRemoval, step};
    use crate::evidence::pack::{
        ActionCount, Approval, IpCount, PACK_FORMAT, PACK_VERSION, Verification,
    };
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    const ROLE_1: &str = "arn:aws:iam::111111111111:role/audit-grants/audit-grant-AUD-1042";
    const ROLE_2: &str = "arn:aws:iam::222222222222:role/audit-grants/audit-grant-AUD-1042";
    const JANE: &str = "arn:aws:iam::210987654321:role/ExternalAuditor";
    const BOB: &str = "arn:aws:iam::210987654321:user/bob";
    /// Never in the pack: renderers must not be able to show it.
    const FAKE_EXTERNAL_ID: &str = "ext-9f8e7d6c5b4a39281706f5e4d3c2b1a0";

    fn trust(role_start: &str, role_end: &str) -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "AuditGrant",
                "Effect": "Allow",
                "Principal": {"AWS": [JANE, BOB]},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                "Condition": {
                    "StringEquals": {"sts:ExternalId": "(present)"},
                    "DateGreaterThan": {"aws:CurrentTime": role_start},
                    "DateLessThan": {"aws:CurrentTime": role_end}
                }
            }]
        })
    }

    fn window_deny() -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "BeforeTheWindow", "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                 "Condition": {"DateLessThan": {"aws:CurrentTime": "2026-12-01T09:00:00Z"}}},
                {"Sid": "AfterTheWindow", "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                 "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2026-12-06T17:00:00Z"}}}
            ]
        })
    }

    fn role(arn: &str, role_id: &str) -> RoleAsGranted {
        RoleAsGranted {
            role_arn: arn.into(),
            role_id: Some(role_id.into()),
            role_name: "audit-grant-AUD-1042".into(),
            path: "/audit-grants/".into(),
            trust_policy: trust("2026-12-01T09:00:00Z", "2026-12-06T17:00:00Z"),
            boundary_arn: "arn:aws:iam::111111111111:policy/audit-grants-boundary".into(),
            boundary_sha256: "5e0c1f8e2b7d4a3c9f6e1d0b8a7c6e5f4d3c2b1a09f8e7d6c5b4a3928170f6e5"
                .into(),
            preset_policy_arn: "arn:aws:iam::aws:policy/SecurityAudit".into(),
            window_deny: window_deny(),
            max_session_seconds: 3600,
            tags: vec![
                ("audit-grants:ticket".into(), "AUD-1042".into()),
                ("audit-grants:managed-by".into(), "audit-grants".into()),
            ],
        }
    }

    fn steps(started: &str) -> Vec<TeardownStep> {
        let t0 = at(started);
        [
            step::SESSIONS_REVOKED,
            step::TRUST_REMOVED,
            step::POLICIES_DETACHED,
            step::INLINE_POLICIES_DELETED,
            step::ROLE_DELETED,
        ]
        .iter()
        .enumerate()
        .map(|(i, s)| TeardownStep::new(s, t0 + chrono::Duration::milliseconds(140 * i as i64)))
        .collect()
    }

    fn removed(account: &str, started: &str, finished: &str) -> Removal {
        Removal {
            state: "removed".into(),
            teardown_started_at: Some(started.into()),
            teardown_finished_at: Some(finished.into()),
            steps: steps(started),
            verified: Some(Verification {
                checked_at: "2026-12-04T12:30:00.000Z".into(),
                call: format!("iam:GetRole audit-grant-AUD-1042 in {account}"),
                answer: "NoSuchEntity: the role does not exist".into(),
                role_exists: false,
            }),
        }
    }

    fn call(at: &str, service: &str, action: &str, error: Option<(&str, &str)>) -> CallRecord {
        CallRecord {
            at: at.into(),
            service: service.into(),
            action: action.into(),
            error_code: error.map(|(c, _)| c.into()),
            error_message: error.map(|(_, m)| m.into()),
            source_ip: Some("198.51.100.7".into()),
            by: Some("audit-grant-AUD-1042/jane".into()),
            access_key_id: Some("ASIAEXAMPLEJANE00001".into()),
            event_id: format!("evt-{action}-{at}"),
        }
    }

    fn activity_with_denials() -> Activity {
        Activity {
            source: "CloudTrail event history (LookupEvents), eu-west-1".into(),
            from: "2026-12-01T09:00:00Z".into(),
            to: "2026-12-04T12:15:00Z".into(),
            complete: true,
            notes: vec![],
            sessions: vec![
                Session {
                    access_key_id: "ASIAEXAMPLEJANE00001".into(),
                    assumed_at: "2026-12-01T09:12:03Z".into(),
                    assumed_by: Some(JANE.into()),
                    session_name: Some("jane".into()),
                    source_identity: Some("jane@auditfirm.example".into()),
                    source_ip: Some("198.51.100.7".into()),
                    calls: 31,
                },
                Session {
                    access_key_id: "ASIAEXAMPLEBOB000002".into(),
                    assumed_at: "2026-12-02T14:40:51Z".into(),
                    assumed_by: Some(BOB.into()),
                    session_name: Some("bob".into()),
                    source_identity: None,
                    source_ip: Some("203.0.113.20".into()),
                    calls: 11,
                },
            ],
            refused_assumes: vec![call(
                "2026-12-04T12:20:00Z",
                "sts",
                "AssumeRole",
                Some(("AccessDenied", "not authorized to perform: sts:AssumeRole")),
            )],
            total_calls: 42,
            first_use: Some("2026-12-01T09:12:05Z".into()),
            last_use: Some("2026-12-03T16:02:44Z".into()),
            by_action: vec![
                ActionCount {
                    service: "iam".into(),
                    action: "GetAccountAuthorizationDetails".into(),
                    calls: 18,
                    denied: 0,
                },
                ActionCount {
                    service: "s3".into(),
                    action: "ListBuckets".into(),
                    calls: 12,
                    denied: 0,
                },
                ActionCount {
                    service: "s3".into(),
                    action: "GetObject".into(),
                    calls: 7,
                    denied: 2,
                },
                ActionCount {
                    service: "kms".into(),
                    action: "Decrypt".into(),
                    calls: 5,
                    denied: 1,
                },
            ],
            source_ips: vec![
                IpCount {
                    ip: "198.51.100.7".into(),
                    calls: 31,
                },
                IpCount {
                    ip: "203.0.113.20".into(),
                    calls: 11,
                },
            ],
            denied_calls: vec![
                call(
                    "2026-12-02T10:01:12Z",
                    "s3",
                    "GetObject",
                    Some((
                        "AccessDenied",
                        "User: arn:aws:sts::111111111111:assumed-role/audit-grant-AUD-1042/jane is not authorized to perform: s3:GetObject on resource: arn:aws:s3:::payroll-exports/2026-11.csv with an explicit deny in a permissions boundary",
                    )),
                ),
                call(
                    "2026-12-02T10:01:40Z",
                    "s3",
                    "GetObject",
                    Some(("AccessDenied", "explicit deny in a permissions boundary")),
                ),
                call(
                    "2026-12-03T08:30:00Z",
                    "kms",
                    "Decrypt",
                    Some((
                        "AccessDeniedException",
                        "explicit deny in a permissions boundary",
                    )),
                ),
            ],
        }
    }

    fn activity_incomplete() -> Activity {
        Activity {
            source: "CloudTrail event history (LookupEvents), eu-west-1".into(),
            from: "2026-12-01T09:00:00Z".into(),
            to: "2026-12-04T12:15:00Z".into(),
            complete: false,
            notes: vec![
                "LookupEvents throttled after 3 pages; events after 2026-12-02T11:00:00Z not read"
                    .into(),
                "AssumeRole events are read in the auditor's region only".into(),
            ],
            sessions: vec![Session {
                access_key_id: "ASIAEXAMPLEJANE00003".into(),
                assumed_at: "2026-12-02T10:05:00Z".into(),
                assumed_by: Some(JANE.into()),
                session_name: Some("jane".into()),
                source_identity: Some("jane@auditfirm.example".into()),
                source_ip: Some("198.51.100.7".into()),
                calls: 3,
            }],
            refused_assumes: vec![],
            total_calls: 3,
            first_use: Some("2026-12-02T10:05:10Z".into()),
            last_use: Some("2026-12-02T10:07:02Z".into()),
            by_action: vec![ActionCount {
                service: "config".into(),
                action: "DescribeConfigRules".into(),
                calls: 3,
                denied: 0,
            }],
            source_ips: vec![IpCount {
                ip: "198.51.100.7".into(),
                calls: 3,
            }],
            denied_calls: vec![],
        }
    }

    fn event(
        when: &str,
        from: Option<GrantStatus>,
        to: GrantStatus,
        reason: &str,
        version: u64,
        origin: Option<Origin>,
    ) -> HistoryEvent {
        HistoryEvent {
            at: at(when),
            from,
            to,
            reason: reason.into(),
            version,
            origin,
            removal: vec![],
            evidence: None,
        }
    }

    fn sample_pack() -> Pack {
        use GrantStatus::*;
        let mut revoked = event(
            "2026-12-04T12:00:02.100Z",
            Some(Revoking),
            Revoked,
            "roles removed",
            6,
            None,
        );
        revoked.removal = vec![
            RoleRemoval {
                account: "111111111111".into(),
                role_arn: ROLE_1.into(),
                role_id: Some("AROAEXAMPLE111111111".into()),
                outcome: "deleted".into(),
                steps: steps("2026-12-04T12:00:01.000Z"),
            },
            RoleRemoval {
                account: "222222222222".into(),
                role_arn: ROLE_2.into(),
                role_id: Some("AROAEXAMPLE222222222".into()),
                outcome: "deleted".into(),
                steps: steps("2026-12-04T12:00:01.600Z"),
            },
        ];
        let mut kept = event(
            "2026-12-04T12:20:00.000Z",
            Some(Revoked),
            Revoked,
            "evidence pack kept",
            7,
            Some(Origin::Schedule),
        );
        kept.evidence = Some(EvidenceCopy {
            bucket: "audit-grants-evidence".into(),
            key: "AUD-1042/evidence.json".into(),
            version_id: Some("3HL4kqtJlcpXroDTDmJ".into()),
            sha256: "ab".repeat(32),
        });
        Pack {
            format: PACK_FORMAT,
            version: PACK_VERSION,
            generated_at: "2026-12-04T12:30:00.512Z".into(),
            generated_by: "audit-grants 0.1.0".into(),
            ticket: "AUD-1042".into(),
            status: "revoked".into(),
            approval: Approval {
                ticket: "AUD-1042".into(),
                requested_by: "maria.lopez@example.com".into(),
                reason: Some("Q4 SOC 2 fieldwork: IAM and logging review".into()),
                requested_at: "2026-11-30T15:04:05.000Z".into(),
                sender: Some(Origin::eventbridge(
                    "com.example.ticketing",
                    Some("6f1f2a3b-0000-4c1d-9e2f-1234567890ab"),
                )),
                sender_description:
                    "eventbridge com.example.ticketing 6f1f2a3b-0000-4c1d-9e2f-1234567890ab".into(),
            },
            grant: Granted {
                auditor_account: "210987654321".into(),
                principals: vec![JANE.into(), BOB.into()],
                access: "security-audit".into(),
                start: "2026-12-01T09:00:00Z".into(),
                end: "2026-12-06T17:00:00Z".into(),
                created_at: "2026-11-30T15:04:06.210Z".into(),
                ended_at: Some("2026-12-04T12:00:02.100Z".into()),
                end_reason: Some("fieldwork finished early".into()),
                external_id: "required (value not shown)",
                max_session_seconds: 3600,
                auditor_policy: json!({
                    "Version": "2012-10-17",
                    "Statement": [{"Sid": "AssumeTheAuditGrantRoles", "Effect": "Allow",
                        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                        "Resource": [ROLE_1, ROLE_2]}]
                }),
            },
            accounts: vec![
                AccountEvidence {
                    account: "111111111111".into(),
                    role: role(ROLE_1, "AROAEXAMPLE111111111"),
                    removal: removed(
                        "111111111111",
                        "2026-12-04T12:00:01.000Z",
                        "2026-12-04T12:00:02.100Z",
                    ),
                    activity: activity_with_denials(),
                },
                AccountEvidence {
                    account: "222222222222".into(),
                    role: role(ROLE_2, "AROAEXAMPLE222222222"),
                    removal: removed(
                        "222222222222",
                        "2026-12-04T12:00:01.600Z",
                        "2026-12-04T12:00:02.100Z",
                    ),
                    activity: activity_incomplete(),
                },
            ],
            history: vec![
                event(
                    "2026-11-30T15:04:06.210Z",
                    None,
                    Pending,
                    "requested",
                    1,
                    Some(Origin::eventbridge(
                        "com.example.ticketing",
                        Some("6f1f2a3b-0000-4c1d-9e2f-1234567890ab"),
                    )),
                ),
                event(
                    "2026-12-01T09:00:03.020Z",
                    Some(Pending),
                    Active,
                    "roles created in 111111111111, 222222222222",
                    2,
                    None,
                ),
                event(
                    "2026-12-02T08:00:00.000Z",
                    Some(Active),
                    Active,
                    "extended to 2026-12-06T17:00:00Z",
                    3,
                    Some(Origin::webhook(
                        Some("192.0.2.44"),
                        Some("ticketing-bot/2.1"),
                        Some("req-77aa"),
                    )),
                ),
                event(
                    "2026-12-04T12:00:00.900Z",
                    Some(Active),
                    Revoking,
                    "revoked: fieldwork finished early",
                    4,
                    Some(Origin::cli("maria")),
                ),
                revoked,
                kept,
            ],
        }
    }

    /// The body of the first `<table class="CLASS">` (between `<tbody>` and `</tbody>`).
    fn first_tbody<'a>(page: &'a str, class: &str) -> &'a str {
        let start = page
            .find(&format!("<table class=\"{class}\">"))
            .unwrap_or_else(|| panic!("no table.{class}"));
        let table = &page[start..];
        let table = &table[..table.find("</table>").unwrap()];
        let body = &table[table.find("<tbody>").unwrap()..];
        &body[..body.find("</tbody>").unwrap()]
    }

    /// The HTML of the section `id`.
    fn section_of<'a>(page: &'a str, id: &str) -> &'a str {
        let start = page
            .find(&format!("<section id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no section #{id}"));
        let rest = &page[start..];
        &rest[..rest.find("</section>").unwrap()]
    }

    /// The Markdown from heading `## title` to the next `## `.
    fn md_section<'a>(md: &'a str, title: &str) -> &'a str {
        let start = md
            .find(&format!("\n## {title}\n"))
            .unwrap_or_else(|| panic!("no section {title}"));
        let rest = &md[start + 1..];
        let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
        &rest[..end]
    }

    fn assert_contains(haystack: &str, needles: &[&str]) {
        for needle in needles {
            assert!(
                haystack.contains(needle),
                "missing {needle:?} in:\n{haystack}"
            );
        }
    }

    #[test]
    fn escape_replaces_the_five_html_special_characters() {
        assert_eq!(escape(r#"a&b<c>d"e'f"#), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
        assert_eq!(
            escape("plain ARN arn:aws:iam::1:role/x"),
            "plain ARN arn:aws:iam::1:role/x"
        );
    }

    #[test]
    fn markdown_has_the_title_a_status_line_and_every_section_in_order() {
        let md = markdown(&sample_pack());
        assert!(md.starts_with("# Evidence pack: AUD-1042\n\n**Status: revoked** · 2 accounts"));
        let status_line = md.lines().nth(2).unwrap();
        assert_contains(
            status_line,
            &[
                "window 2026-12-01T09:00:00Z → 2026-12-06T17:00:00Z",
                "removal: removed in every account",
                "activity: 45 calls, 3 denied",
                "record INCOMPLETE in 222222222222",
            ],
        );
        let positions: Vec<usize> = [
            "## Approval",
            "## Access as granted",
            "## State changes",
            "## Proof of removal",
            "## Recorded activity",
        ]
        .iter()
        .map(|h| {
            md.find(&format!("\n{h}\n"))
                .unwrap_or_else(|| panic!("no {h}"))
        })
        .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert!(md.ends_with("audit-grants evidence pack v1 · generated at 2026-12-04T12:30:00.512Z by audit-grants 0.1.0\n"));
    }

    #[test]
    fn markdown_approval_names_ticket_requester_time_reason_and_sender() {
        let md = markdown(&sample_pack());
        let s = md_section(&md, "Approval");
        assert_contains(
            s,
            &[
                "- Ticket: `AUD-1042`",
                "- Requested by: maria.lopez@example.com",
                "- Requested at: 2026-11-30T15:04:05.000Z",
                "- Reason: Q4 SOC 2 fieldwork: IAM and logging review",
                "- Sent by: eventbridge com.example.ticketing 6f1f2a3b-0000-4c1d-9e2f-1234567890ab",
            ],
        );
    }

    #[test]
    fn markdown_access_as_granted_shows_shared_fields_and_each_accounts_role() {
        let md = markdown(&sample_pack());
        let s = md_section(&md, "Access as granted");
        assert_contains(
            s,
            &[
                "- Auditor account: `210987654321`",
                &format!("- Principals: `{JANE}`, `{BOB}`"),
                "- Access preset: `security-audit`",
                "- Window: 2026-12-01T09:00:00Z → 2026-12-06T17:00:00Z",
                "- Ended at: 2026-12-04T12:00:02.100Z",
                "- End reason: fieldwork finished early",
                "- Max session: 3600 s (1h)",
                "### Account 111111111111",
                "### Account 222222222222",
                &format!("- Role ARN: `{ROLE_1}`"),
                &format!("- Role ARN: `{ROLE_2}`"),
                "- RoleId: `AROAEXAMPLE111111111`",
                "- RoleId: `AROAEXAMPLE222222222`",
                &format!("- Trust principals: `{JANE}`, `{BOB}`"),
                "- ExternalId: required (value not shown)",
                "- Window: 2026-12-01T09:00:00Z → 2026-12-06T17:00:00Z (trust policy)",
                "- Permissions boundary: `arn:aws:iam::111111111111:policy/audit-grants-boundary` (sha256 `5e0c1f8e2b7d4a3c9f6e1d0b8a7c6e5f4d3c2b1a09f8e7d6c5b4a3928170f6e5`)",
                "- Preset policy: `arn:aws:iam::aws:policy/SecurityAudit`",
                "- Window deny (`AuditGrantWindow`): present",
            ],
        );
        assert_eq!(
            s.matches("- ExternalId: required (value not shown)")
                .count(),
            3
        );
    }

    #[test]
    fn a_missing_window_deny_or_external_id_condition_is_said_loudly() {
        let mut pack = sample_pack();
        pack.accounts[1].role.window_deny = Value::Null;
        pack.accounts[1].role.trust_policy["Statement"][0]["Condition"]
            .as_object_mut()
            .unwrap()
            .remove("StringEquals");
        let md = markdown(&pack);
        assert_contains(
            &md,
            &[
                "- Window deny (`AuditGrantWindow`): **MISSING**",
                "- ExternalId: NOT required by the trust policy",
            ],
        );
        let page = html(&pack);
        assert_contains(
            section_of(&page, "granted"),
            &[
                r#"<span class="bad">MISSING</span>"#,
                r#"<span class="bad">NOT required by the trust policy</span>"#,
            ],
        );
    }

    #[test]
    fn no_external_id_value_is_ever_shown_only_that_one_is_required() {
        let pack = sample_pack();
        let json = serde_json::to_string(&pack).unwrap();
        assert!(!json.contains(FAKE_EXTERNAL_ID));
        for out in [markdown(&pack), html(&pack)] {
            assert!(!out.contains(FAKE_EXTERNAL_ID));
            assert!(out.contains("required (value not shown)"));
        }
        // The trust policy as written shows only the placeholder the pack holds.
        assert!(html(&pack).contains("&quot;sts:ExternalId&quot;: &quot;(present)&quot;"));
    }

    #[test]
    fn markdown_state_changes_table_has_every_change_with_who_asked() {
        let md = markdown(&sample_pack());
        let s = md_section(&md, "State changes");
        assert_contains(
            s,
            &[
                "| Time | From → to | Reason | Asked by |",
                "| --- | --- | --- | --- |",
                "| 2026-11-30T15:04:06.210Z | (new) → pending | requested | eventbridge com.example.ticketing 6f1f2a3b-0000-4c1d-9e2f-1234567890ab |",
                "| 2026-12-01T09:00:03.020Z | pending → active | roles created in 111111111111, 222222222222 | audit-grants (on its own) |",
                "| 2026-12-02T08:00:00.000Z | active → active | extended to 2026-12-06T17:00:00Z | webhook 192.0.2.44 req-77aa ticketing-bot/2.1 |",
                "| 2026-12-04T12:00:00.900Z | active → revoking | revoked: fieldwork finished early | cli maria |",
                "| 2026-12-04T12:00:02.100Z | revoking → revoked | roles removed | audit-grants (on its own) |",
                "| 2026-12-04T12:20:00.000Z | revoked → revoked | evidence pack kept | schedule |",
            ],
        );
        assert_eq!(s.lines().filter(|l| l.starts_with("| 2026-")).count(), 6);
    }

    #[test]
    fn markdown_proof_of_removal_lists_each_step_and_the_iam_check() {
        let md = markdown(&sample_pack());
        let s = md_section(&md, "Proof of removal");
        assert_contains(
            s,
            &[
                "### Account 111111111111: removed",
                "### Account 222222222222: removed",
                "- Teardown started: 2026-12-04T12:00:01.000Z",
                "- Teardown finished: 2026-12-04T12:00:02.100Z",
                "- `sessions_revoked`: 2026-12-04T12:00:01.000Z",
                "- `trust_removed`: 2026-12-04T12:00:01.140Z",
                "- `policies_detached`: 2026-12-04T12:00:01.280Z",
                "- `inline_policies_deleted`: 2026-12-04T12:00:01.420Z",
                "- `role_deleted`: 2026-12-04T12:00:01.560Z",
                "- Verified: `iam:GetRole audit-grant-AUD-1042 in 111111111111` at 2026-12-04T12:30:00.000Z: NoSuchEntity: the role does not exist",
                "- Verified: `iam:GetRole audit-grant-AUD-1042 in 222222222222` at 2026-12-04T12:30:00.000Z: NoSuchEntity: the role does not exist",
            ],
        );
        assert_eq!(s.matches("- Verified: `iam:GetRole ").count(), 2);
    }

    #[test]
    fn markdown_recorded_activity_shows_range_completeness_notes_calls_ips_and_denials() {
        let md = markdown(&sample_pack());
        let s = md_section(&md, "Recorded activity");
        assert_contains(
            s,
            &[
                "- Source: CloudTrail event history (LookupEvents), eu-west-1",
                "- Range: 2026-12-01T09:00:00Z → 2026-12-04T12:15:00Z",
                "- Record: complete",
                "- Record: **INCOMPLETE**",
                "- Note: LookupEvents throttled after 3 pages; events after 2026-12-02T11:00:00Z not read",
                "- Note: AssumeRole events are read in the auditor's region only",
                "- Sessions: 2",
                "- Calls: 42",
                "- Denied calls: 3",
                "- First use: 2026-12-01T09:12:05Z",
                "- Last use: 2026-12-03T16:02:44Z",
                "| Service | Action | Calls | Denied |",
                "| `iam` | `GetAccountAuthorizationDetails` | 18 | 0 |",
                "| `s3` | `GetObject` | 7 | 2 |",
                "| `kms` | `Decrypt` | 5 | 1 |",
                "| `config` | `DescribeConfigRules` | 3 | 0 |",
                "| `198.51.100.7` | 31 |",
                "| `203.0.113.20` | 11 |",
                "| 2026-12-02T10:01:12Z | `s3` | `GetObject` | `AccessDenied` |",
                "| 2026-12-03T08:30:00Z | `kms` | `Decrypt` | `AccessDeniedException` |",
                "No denied calls.",
                "**Refused AssumeRole**",
                &format!("| 2026-12-01T09:12:03Z | `{JANE}` | `jane` | `jane@auditfirm.example` |"),
            ],
        );
    }

    #[test]
    fn markdown_table_cells_escape_pipes_and_line_breaks() {
        let mut pack = sample_pack();
        pack.history[3].reason = "done | early\nsecond line\r\nthird".into();
        pack.accounts[0].activity.denied_calls[0].error_message =
            Some("denied|by\nboundary".into());
        pack.accounts[0].activity.by_action[0].action = "Get|Thing".into();
        let md = markdown(&pack);
        assert_contains(
            &md,
            &[
                "| active → revoking | done \\| early second line third | cli maria |",
                "| denied\\|by boundary |",
                "| `iam` | `Get\\|Thing` | 18 | 0 |",
            ],
        );
        // Every table row still has its cells: no line of a table is broken.
        for line in md
            .lines()
            .filter(|l| l.starts_with("| 2026-12-04T12:00:00.900Z"))
        {
            assert_eq!(line.matches(" | ").count(), 3, "{line}");
        }
    }

    #[test]
    fn markdown_free_text_cannot_inject_markup() {
        let mut pack = sample_pack();
        pack.approval.reason = Some("see [this](javascript:alert(1)) <b>now</b> *x*".into());
        let md = markdown(&pack);
        assert!(
            md.contains("- Reason: see \\[this\\](javascript:alert(1)) \\<b\\>now\\</b\\> \\*x\\*")
        );
    }

    #[test]
    fn html_is_one_page_that_loads_nothing() {
        let page = html(&sample_pack());
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert_contains(
            &page,
            &[
                r#"<meta charset="utf-8">"#,
                r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#,
                r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">"#,
                "<style>",
            ],
        );
        assert_eq!(page.matches("<style>").count(), 1);
        let lower = page.to_ascii_lowercase();
        for banned in [
            "http://",
            "https://",
            "src=",
            "<script",
            "<link",
            "<img",
            "<iframe",
            "<object",
            "<embed",
            "@import",
            "url(",
            "@font-face",
            "srcset",
            "action=",
        ] {
            assert!(!lower.contains(banned), "the page contains {banned:?}");
        }
        // Only links within the page.
        for (i, _) in lower.match_indices("href=") {
            assert!(lower[i..].starts_with("href=\"#"), "{}", &page[i..i + 40]);
        }
    }

    #[test]
    fn html_has_every_section_the_browser_check_looks_for() {
        let page = html(&sample_pack());
        for id in [
            "summary", "approval", "granted", "timeline", "activity", "removal",
        ] {
            assert_eq!(
                page.matches(&format!("<section id=\"{id}\">")).count(),
                1,
                "section {id}"
            );
        }
        assert!(page.contains(r#"<main data-ticket="AUD-1042">"#));
        assert!(page.contains("<title>Evidence pack: AUD-1042</title>"));
        let footer = &page[page.find("<footer>").unwrap()..page.find("</footer>").unwrap()];
        assert_contains(
            footer,
            &[
                "audit-grants evidence pack · version 1",
                "<time>2026-12-04T12:30:00.512Z</time>",
                "audit-grants 0.1.0",
            ],
        );
    }

    #[test]
    fn html_summary_and_granted_show_the_grant_and_each_role() {
        let page = html(&sample_pack());
        assert_contains(
            section_of(&page, "summary"),
            &[
                r#"<span class="badge status-revoked">revoked</span>"#,
                "removed in every account",
                "45 calls, 3 denied",
                "record INCOMPLETE in 222222222222",
            ],
        );
        assert_contains(
            section_of(&page, "approval"),
            &[
                "maria.lopez@example.com",
                "Q4 SOC 2 fieldwork: IAM and logging review",
                "<code>eventbridge com.example.ticketing 6f1f2a3b-0000-4c1d-9e2f-1234567890ab</code>",
            ],
        );
        let granted = section_of(&page, "granted");
        assert_contains(
            granted,
            &[
                "<code>210987654321</code>",
                "<code>security-audit</code>",
                &format!("<code>{ROLE_1}</code>"),
                &format!("<code>{ROLE_2}</code>"),
                "<code>AROAEXAMPLE111111111</code>",
                "<code>AROAEXAMPLE222222222</code>",
                &format!("<code>{JANE}</code>"),
                &format!("<code>{BOB}</code>"),
                "<code>arn:aws:iam::aws:policy/SecurityAudit</code>",
                "sha256 <code>5e0c1f8e2b7d4a3c9f6e1d0b8a7c6e5f4d3c2b1a09f8e7d6c5b4a3928170f6e5</code>",
                r#"<span class="ok">present</span>"#,
                "3600 s (1h)",
            ],
        );
        assert_eq!(granted.matches("<article class=\"account\">").count(), 2);
        assert_eq!(granted.matches("required (value not shown)").count(), 3);
    }

    #[test]
    fn html_timeline_has_every_change_with_badge_reason_and_who_asked() {
        let page = html(&sample_pack());
        let timeline = section_of(&page, "timeline");
        assert_eq!(timeline.matches("<li class=\"event ").count(), 6);
        assert_contains(
            timeline,
            &[
                "<time>2026-11-30T15:04:06.210Z</time><span class=\"badge status-pending\">pending</span><span class=\"from\">from (new)</span>",
                "<span class=\"badge status-active\">active</span><span class=\"from\">from pending</span>",
                "<span class=\"badge status-revoking\">revoking</span>",
                "<p class=\"reason\">revoked: fieldwork finished early</p>",
                "Asked by <code>cli maria</code>",
                "Asked by <code>webhook 192.0.2.44 req-77aa ticketing-bot/2.1</code>",
                "Asked by <code>audit-grants (on its own)</code>",
                &format!("<code>{ROLE_2}</code> in 222222222222: deleted"),
                "<code>role_deleted</code> <time>2026-12-04T12:00:02.160Z</time>",
                "<code>s3://audit-grants-evidence/AUD-1042/evidence.json (version 3HL4kqtJlcpXroDTDmJ)</code>",
            ],
        );
    }

    #[test]
    fn html_activity_tables_have_a_row_per_action_and_per_denied_call() {
        let pack = sample_pack();
        let page = html(&pack);
        let activity = section_of(&page, "activity");
        assert_eq!(
            activity.matches("<table class=\"activity-table\">").count(),
            2
        );
        assert_eq!(
            activity.matches("<table class=\"denied-table\">").count(),
            2
        );
        let actions = first_tbody(activity, "activity-table");
        assert_eq!(actions.matches("<tr>").count(), 4);
        assert_contains(
            actions,
            &[
                "<td><code>iam</code></td><td><code>GetAccountAuthorizationDetails</code></td><td><span class=\"num\">18</span></td>",
                "<td><code>s3</code></td><td><code>GetObject</code></td><td><span class=\"num\">7</span></td><td><span class=\"bad\">2</span></td>",
            ],
        );
        let denied = first_tbody(activity, "denied-table");
        assert_eq!(denied.matches("<tr>").count(), 3);
        assert_contains(
            denied,
            &[
                "<td><code>s3</code></td><td><code>GetObject</code></td><td><code>AccessDenied</code></td>",
                "<td><code>kms</code></td><td><code>Decrypt</code></td><td><code>AccessDeniedException</code></td>",
                "<code>AccessDenied</code>",
                "<code>AccessDeniedException</code>",
                "with an explicit deny in a permissions boundary",
                "<code>evt-GetObject-2026-12-02T10:01:12Z</code>",
            ],
        );
        // The second account had no denial: an empty body and a footer saying so.
        let second = &activity[activity.rfind("<table class=\"denied-table\">").unwrap()..];
        let second_body = first_tbody(second, "denied-table");
        assert_eq!(second_body.matches("<tr>").count(), 0);
        assert!(second.contains("No denied calls."));
        assert_contains(
            activity,
            &[
                "<table class=\"refused-table\">",
                "<code>198.51.100.7</code></td><td><span class=\"num\">31</span>",
                "<code>ASIAEXAMPLEBOB000002</code>",
                "CloudTrail event history (LookupEvents), eu-west-1",
                "2026-12-01T09:00:00Z → 2026-12-04T12:15:00Z",
            ],
        );
    }

    #[test]
    fn html_incomplete_record_shows_every_note_prominently() {
        let page = html(&sample_pack());
        let activity = section_of(&page, "activity");
        let callout = &activity[activity.find("<div class=\"callout incomplete\"").unwrap()..];
        let callout = &callout[..callout.find("</div>").unwrap()];
        assert_contains(
            callout,
            &[
                "Record incomplete: calls may be missing.",
                "<li>LookupEvents throttled after 3 pages; events after 2026-12-02T11:00:00Z not read</li>",
                "<li>AssumeRole events are read in the auditor&#39;s region only</li>",
            ],
        );
        assert_eq!(activity.matches("callout incomplete").count(), 1);
        assert_eq!(activity.matches("Record complete").count(), 1);
    }

    #[test]
    fn html_removal_badge_says_removed_still_exists_or_live() {
        let mut pack = sample_pack();
        let page = html(&pack);
        let removal = section_of(&page, "removal");
        assert_eq!(
            removal
                .matches(r#"<span class="badge removal-removed">removed</span>"#)
                .count(),
            2
        );
        assert_contains(
            removal,
            &[
                r#"<p class="verification ok"><code>iam:GetRole audit-grant-AUD-1042 in 111111111111</code> at <time>2026-12-04T12:30:00.000Z</time>: NoSuchEntity: the role does not exist</p>"#,
                "<code>inline_policies_deleted</code> <time>2026-12-04T12:00:01.420Z</time>",
            ],
        );

        pack.accounts[0].removal.state = "role_still_exists".into();
        pack.accounts[0].removal.verified = Some(Verification {
            checked_at: "2026-12-04T12:30:00.000Z".into(),
            call: "iam:GetRole audit-grant-AUD-1042 in 111111111111".into(),
            answer: format!("the role still exists: {ROLE_1} (AROAEXAMPLE111111111)"),
            role_exists: true,
        });
        pack.accounts[1].removal = Removal {
            state: "not_removed".into(),
            teardown_started_at: None,
            teardown_finished_at: None,
            steps: vec![],
            verified: None,
        };
        let page = html(&pack);
        let removal = section_of(&page, "removal");
        assert_contains(
            removal,
            &[
                r#"<span class="badge removal-still-exists">role still exists</span>"#,
                r#"<span class="badge removal-live">not removed (grant live)</span>"#,
                r#"<p class="verification bad"><code>iam:GetRole audit-grant-AUD-1042 in 111111111111</code>"#,
                "the role still exists: arn:aws:iam::111111111111:role/audit-grants/audit-grant-AUD-1042 (AROAEXAMPLE111111111)",
            ],
        );
        assert!(!removal.contains("removal-removed"));
        assert_contains(
            section_of(&page, "summary"),
            &[
                r#"<div class="card alarm">"#,
                "role still exists in 111111111111",
            ],
        );
        assert!(markdown(&pack).contains("removal: **ROLE STILL EXISTS IN 111111111111**"));
        assert!(markdown(&pack).contains("### Account 111111111111: **ROLE STILL EXISTS**"));
    }

    #[test]
    fn html_escapes_every_text_from_the_pack() {
        let mut pack = sample_pack();
        let evil = r#"<script>alert("x")</script>"#;
        pack.ticket = r#"AUD-1"><script>alert(1)</script>"#.into();
        pack.approval.reason = Some(evil.into());
        pack.history[0].reason = evil.into();
        pack.history[0].origin = Some(Origin::cli(r#"o'brien<img src=x onerror=alert(1)>"#));
        pack.grant.principals[0] = format!("{JANE}{evil}");
        pack.accounts[0].activity.denied_calls[0].error_message =
            Some("<b>denied</b> & https://evil.example/x".into());
        pack.accounts[0].activity.notes = vec![evil.into()];
        pack.accounts[0].removal.state = evil.into();
        pack.status = evil.into();
        let page = html(&pack);
        assert!(!page.to_ascii_lowercase().contains("<script"));
        assert!(!page.contains("<img"));
        assert!(!page.contains("<b>denied"));
        assert_contains(
            &page,
            &[
                "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;",
                r#"<main data-ticket="AUD-1&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">"#,
                "cli o&#39;brien&lt;img src=x onerror=alert(1)&gt;",
                "&lt;b&gt;denied&lt;/b&gt; &amp; https://evil.example/x",
                r#"<span class="badge status-other">&lt;script&gt;"#,
                r#"<span class="badge removal-other">&lt;script&gt;"#,
            ],
        );
    }

    #[test]
    fn rendering_is_deterministic() {
        let pack = sample_pack();
        assert_eq!(markdown(&pack), markdown(&pack.clone()));
        assert_eq!(html(&pack), html(&pack.clone()));
    }

    /// `EVIDENCE_SAMPLE_HTML=target/sample-evidence.html cargo test --lib
    /// evidence::render` writes the sample page for the browser check
    /// (`tests/browser/run.sh`); `EVIDENCE_SAMPLE_MD` the Markdown.
    #[test]
    fn writes_the_sample_when_asked() {
        let pack = sample_pack();
        if let Ok(path) = std::env::var("EVIDENCE_SAMPLE_HTML") {
            std::fs::write(&path, html(&pack)).unwrap();
        }
        if let Ok(path) = std::env::var("EVIDENCE_SAMPLE_MD") {
            std::fs::write(&path, markdown(&pack)).unwrap();
        }
    }
}
