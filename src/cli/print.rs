//! How the CLI prints results: JSON for scripts, aligned text for people.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::{Grant, HistoryEvent, format_timestamp};
use crate::service::{ReconcileReport, SweepReport};

pub fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON serialises")
    );
}

pub fn print_history(grant: &Grant, history: &[HistoryEvent], json: bool) {
    if json {
        let mut v = grant.view(true);
        v["history"] = crate::service::to_json(&history);
        print_json(&v);
        return;
    }
    print_grant(grant, false);
    println!("\nhistory:");
    for e in history {
        let from = e.from.map(|s| s.as_str()).unwrap_or("-");
        println!(
            "  {}  {:>8} -> {:<8}  {}",
            crate::domain::format_timestamp_precise(e.at),
            from,
            e.to.as_str(),
            e.reason
        );
    }
}

pub fn print_grant(grant: &Grant, json: bool) {
    if json {
        print_json(&grant.view(true));
        return;
    }
    println!("ticket     {}", grant.ticket);
    println!("status     {}", grant.status);
    for role in &grant.roles {
        println!("role       {}", role.role_arn);
    }
    println!("access     {}", grant.access);
    println!("auditor    {}", grant.auditor_account);
    for p in &grant.principals {
        println!("principal  {p}");
    }
    println!(
        "window     {} .. {}",
        format_timestamp(grant.window.start()),
        format_timestamp(grant.window.end())
    );
    if let Some(ended) = grant.ended_at {
        println!(
            "ended      {} ({})",
            format_timestamp(ended),
            grant.end_reason.as_deref().unwrap_or("")
        );
    }
    if let Some(err) = &grant.last_error {
        println!("last error {err} (attempts: {})", grant.attempts);
    }
    if !grant.is_ended() {
        println!("\n{}", grant.aws_config_profile());
        println!(
            "auditor policy (attach to the principals in {}):\n{}",
            grant.auditor_account,
            serde_json::to_string_pretty(&grant.auditor_policy()).expect("JSON")
        );
    }
}

/// How long until `end`, for a person: `2d 3h`, `45m`, `ended`.
pub fn ends_in(end: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (end - now).num_seconds();
    if secs <= 0 {
        return "ended".into();
    }
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// An aligned table: ticket, status, auditor, access, ends in.
pub fn list_table(grants: &[Grant], now: DateTime<Utc>) -> String {
    let rows: Vec<[String; 5]> = grants
        .iter()
        .map(|g| {
            [
                g.ticket.to_string(),
                g.status.to_string(),
                g.auditor_account.to_string(),
                g.access.to_string(),
                if g.is_ended() {
                    "-".into()
                } else {
                    ends_in(g.window.end(), now)
                },
            ]
        })
        .collect();
    let header = ["TICKET", "STATUS", "AUDITOR", "ACCESS", "ENDS IN"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

pub fn print_reconcile(report: &ReconcileReport) {
    let verb = if report.dry_run { "would be " } else { "" };
    println!(
        "roles seen {}, inspected {}{}",
        report.roles_seen,
        report.roles_inspected,
        report
            .resumed_after
            .as_ref()
            .map(|c| format!(" (resumed after {c})"))
            .unwrap_or_default()
    );
    if let Some(c) = &report.stopped_after {
        println!("stopped    after {c} (out of time; the next run resumes there)");
    }
    for r in &report.orphans {
        println!("orphan     {r} ({verb}torn down)");
    }
    for d in &report.repaired {
        println!(
            "drift      {} {}: {} ({verb}repaired)",
            d.ticket,
            d.role_arn,
            d.drift.join(", ")
        );
    }
    for t in &report.ended {
        println!("role gone  {t} ({verb}ended)");
    }
    for r in &report.foreign {
        println!("foreign    {r} (not ours; untouched)");
    }
    for f in &report.failed {
        println!("FAILED     {}: {}", f.ticket, f.error);
    }
}

pub fn print_sweep(report: &SweepReport) {
    let label = if report.dry_run {
        "due (dry run)"
    } else {
        "due"
    };
    println!("as of      {}", report.as_of);
    println!("{label:<10} {}", report.due.join(", "));
    if !report.dry_run {
        println!("torn down  {}", report.torn_down.join(", "));
        if !report.resumed.is_empty() {
            println!("resumed    {}", report.resumed.join(", "));
        }
        if !report.verified.is_empty() {
            println!("verified   {}", report.verified.join(", "));
        }
        if !report.in_progress.is_empty() {
            println!("in progress elsewhere {}", report.in_progress.join(", "));
        }
        if !report.deferred.is_empty() {
            println!("deferred   {}", report.deferred.join(", "));
        }
        for f in &report.failed {
            println!("FAILED     {}: {}", f.ticket, f.error);
        }
    }
}
