//! Who asked for a change: recorded with the change in the grant's history, as
//! evidence of the approval (the EventBridge source and event id, the webhook
//! caller, the operator at the CLI).

use serde::{Deserialize, Serialize};

/// The longest text kept of each sender-chosen field.
const MAX_FIELD_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "lowercase")]
pub enum Origin {
    /// An EventBridge event: its `source` (chosen by the sender; the bus's
    /// resource policy decides who may send) and its `id`.
    EventBridge { source: String, id: Option<String> },
    /// A signed webhook over API Gateway or a Function URL.
    Webhook {
        source_ip: Option<String>,
        user_agent: Option<String>,
        request_id: Option<String>,
    },
    /// The operator CLI, as the local user.
    Cli { user: String },
    /// The schedule (sweep, reconcile).
    Schedule,
}

/// Sender-chosen text as it may be kept: no control characters, bounded.
fn kept(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD_CHARS)
        .collect()
}

impl Origin {
    pub fn eventbridge(source: &str, id: Option<&str>) -> Self {
        Origin::EventBridge {
            source: kept(source),
            id: id.map(kept),
        }
    }

    pub fn webhook(
        source_ip: Option<&str>,
        user_agent: Option<&str>,
        request_id: Option<&str>,
    ) -> Self {
        Origin::Webhook {
            source_ip: source_ip.map(kept),
            user_agent: user_agent.map(kept),
            request_id: request_id.map(kept),
        }
    }

    pub fn cli(user: &str) -> Self {
        Origin::Cli { user: kept(user) }
    }

    /// One line for logs and tables: `eventbridge com.example.ticketing 6f1f…`.
    pub fn describe(&self) -> String {
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        match self {
            Origin::EventBridge { source, id } => format!("eventbridge {source} {}", or_dash(id)),
            Origin::Webhook {
                source_ip,
                user_agent,
                request_id,
            } => format!(
                "webhook {} {} {}",
                or_dash(source_ip),
                or_dash(request_id),
                or_dash(user_agent)
            ),
            Origin::Cli { user } => format!("cli {user}"),
            Origin::Schedule => "schedule".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_chosen_text_is_kept_without_control_characters_and_bounded() {
        let o = Origin::eventbridge("evil\nsource", Some(&"x".repeat(1000)));
        let Origin::EventBridge { source, id } = &o else {
            unreachable!()
        };
        assert_eq!(source, "evilsource");
        assert_eq!(id.as_ref().unwrap().len(), 256);
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["via"], "eventbridge");
        assert_eq!(serde_json::from_value::<Origin>(json).unwrap(), o);
    }
}
