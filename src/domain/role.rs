//! What makes a role ours: its tags, their values, and where a grant's role lives.

use super::grant::Grant;
use super::values::{AccountId, Ticket};

pub const TAG_TICKET: &str = "audit-grants:ticket";
pub const TAG_EXPIRES_AT: &str = "audit-grants:expires-at";
pub const TAG_MANAGED_BY: &str = "audit-grants:managed-by";
pub const TAG_REQUESTED_BY: &str = "audit-grants:requested-by";
pub const MANAGED_BY: &str = "audit-grants";

/// Where a grant's role lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    pub ticket: Ticket,
    pub target_account: AccountId,
    pub role_name: String,
    /// The id recorded when the grant's role was created; `None` before that
    /// (then the tags alone say whether a role of this name is ours).
    pub role_id: Option<String>,
}

impl Grant {
    /// Where each of the grant's roles lives, one per account.
    pub fn role_refs(&self) -> Vec<RoleRef> {
        self.roles
            .iter()
            .map(|r| RoleRef {
                ticket: self.ticket.clone(),
                target_account: r.account.clone(),
                role_name: self.role_name.clone(),
                role_id: r.role_id.clone(),
            })
            .collect()
    }
}

/// IAM tag values allow letters, digits, spaces and `_.:/=+-@`, up to 256.
pub fn tag_value(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_keep_iams_alphabet_and_length() {
        assert_eq!(tag_value("jane.doe@example.com"), "jane.doe@example.com");
        assert_eq!(tag_value("a<b>\"c"), "a_b__c");
        assert_eq!(tag_value(&"x".repeat(300)).len(), 256);
    }
}
