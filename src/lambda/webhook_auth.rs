//! Webhook authentication: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret,
//! raw body)>`, or `Authorization: Bearer <token>` for senders that can only set
//! static headers. Secrets come from the environment (local) or Secrets Manager
//! (production), fetched once per cold start and only when a webhook arrives.
//! They are never logged.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;

use crate::aws::aws_error;
use crate::config::{Settings, WebhookSecretSource};
use crate::error::{Error, ErrorCode};

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Every webhook secret and bearer token is at least this long (an HMAC key
/// shorter than its hash's output is guessable long before the hash is).
pub const MIN_SECRET_CHARS: usize = 32;

fn too_short(key: &[u8]) -> bool {
    String::from_utf8_lossy(key).chars().count() < MIN_SECRET_CHARS
}

/// The keys that authenticate a webhook. Several of each may be valid at once
/// (during a rotation, the new and the old).
#[derive(Clone, Default)]
pub struct WebhookKeys {
    hmac: Vec<Vec<u8>>,
    bearer: Vec<Vec<u8>>,
}

impl std::fmt::Debug for WebhookKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebhookKeys({} hmac, {} bearer)",
            self.hmac.len(),
            self.bearer.len()
        )
    }
}

impl WebhookKeys {
    /// A secret string: either the HMAC secret itself, or JSON
    /// `{"hmac": "…" | ["new", "old"], "bearer": "…" | [...]}`.
    pub fn parse(secret: &str) -> Result<Self, String> {
        let trimmed = secret.trim();
        if !trimmed.starts_with('{') {
            if too_short(trimmed.as_bytes()) {
                return Err(format!(
                    "the webhook secret must be at least {MIN_SECRET_CHARS} characters"
                ));
            }
            return Ok(WebhookKeys {
                hmac: vec![trimmed.as_bytes().to_vec()],
                bearer: vec![],
            });
        }
        let v: Value = serde_json::from_str(trimmed)
            .map_err(|_| "the webhook secret is not valid JSON".to_owned())?;
        let list = |k: &str| -> Result<Vec<Vec<u8>>, String> {
            match v.get(k) {
                None | Some(Value::Null) => Ok(vec![]),
                Some(Value::String(s)) => Ok(vec![s.as_bytes().to_vec()]),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(|s| s.as_bytes().to_vec())
                            .ok_or(format!("{k} must list strings"))
                    })
                    .collect(),
                Some(_) => Err(format!("{k} must be a string or a list of strings")),
            }
        };
        let keys = WebhookKeys {
            hmac: list("hmac")?,
            bearer: list("bearer")?,
        };
        if keys.hmac.iter().chain(&keys.bearer).any(|k| too_short(k)) {
            return Err(format!(
                "every webhook secret and token must be at least {MIN_SECRET_CHARS} characters"
            ));
        }
        Ok(keys)
    }

    pub fn with_bearer(mut self, token: Option<&str>) -> Self {
        if let Some(t) = token {
            self.bearer.push(t.as_bytes().to_vec());
        }
        self
    }

    /// Accepts a valid signature over `body` from any HMAC key, or a bearer
    /// token equal (in constant time) to a configured one.
    pub fn verify(
        &self,
        signature: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<(), Error> {
        let unauthorized = |why: &str| Error::reject(ErrorCode::Unauthorized, why);
        if self.hmac.is_empty() && self.bearer.is_empty() {
            return Err(unauthorized(
                "webhooks are not configured on this deployment",
            ));
        }
        if let Some(sig) = signature {
            let hex_sig = sig
                .trim()
                .strip_prefix("sha256=")
                .ok_or_else(|| unauthorized("X-Hub-Signature-256 must be sha256=<hex>"))?;
            let sig = hex::decode(hex_sig)
                .ok()
                .filter(|s| s.len() == 32)
                .ok_or_else(|| {
                    unauthorized("X-Hub-Signature-256 must be sha256=<64 hex digits>")
                })?;
            let valid = self.hmac.iter().any(|key| {
                let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                    .expect("HMAC takes any key length");
                mac.update(body);
                mac.verify_slice(&sig).is_ok()
            });
            return if valid {
                Ok(())
            } else {
                Err(unauthorized("the signature does not match the body"))
            };
        }
        if let Some(auth) = authorization {
            let token = auth
                .strip_prefix("Bearer ")
                .ok_or_else(|| unauthorized("Authorization must be Bearer <token>"))?;
            let valid = self
                .bearer
                .iter()
                .any(|t| bool::from(t.as_slice().ct_eq(token.trim().as_bytes())));
            return if valid {
                Ok(())
            } else {
                Err(unauthorized("the bearer token is not valid"))
            };
        }
        Err(unauthorized(
            "the request is not signed: send X-Hub-Signature-256",
        ))
    }
}

/// `sha256=<hex>` of `body` under `secret`: what a sender puts in the header.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Where the keys come from, loaded on first use and then kept for the life of
/// the process.
pub struct WebhookAuth {
    source: Option<WebhookSecretSource>,
    bearer_token: Option<String>,
    secrets: crate::aws::Lazy<aws_sdk_secretsmanager::Client>,
    keys: OnceCell<WebhookKeys>,
}

impl WebhookAuth {
    pub fn new(
        settings: &Settings,
        secrets: crate::aws::Lazy<aws_sdk_secretsmanager::Client>,
    ) -> Self {
        WebhookAuth {
            source: settings.webhook_secret.clone(),
            bearer_token: settings.webhook_bearer_token.clone(),
            secrets,
            keys: OnceCell::new(),
        }
    }

    pub async fn keys(&self) -> Result<&WebhookKeys, Error> {
        self.keys
            .get_or_try_init(|| async {
                let keys = match &self.source {
                    None => WebhookKeys::default(),
                    Some(WebhookSecretSource::Value(v)) => {
                        WebhookKeys::parse(v).map_err(anyhow::Error::msg)?
                    }
                    Some(WebhookSecretSource::SecretsManager(arn)) => {
                        let out = self
                            .secrets
                            .get_secret_value()
                            .secret_id(arn)
                            .send()
                            .await
                            .map_err(|e| aws_error("secretsmanager:GetSecretValue", e))?;
                        let text = out.secret_string().ok_or_else(|| {
                            anyhow::anyhow!("the webhook secret {arn} has no string value")
                        })?;
                        WebhookKeys::parse(text).map_err(anyhow::Error::msg)?
                    }
                };
                Ok::<_, Error>(keys.with_bearer(self.bearer_token.as_deref()))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "demo-webhook-secret-change-me-0123";

    #[test]
    fn a_valid_signature_over_the_exact_body_is_accepted() {
        let keys = WebhookKeys::parse(SECRET).unwrap();
        let body = br#"{"ticket":"AUD-1"}"#;
        keys.verify(Some(&sign(SECRET.as_bytes(), body)), None, body)
            .unwrap();
    }

    #[test]
    fn signatures_over_other_bodies_or_keys_or_malformed_are_refused() {
        let keys = WebhookKeys::parse(SECRET).unwrap();
        let body = b"{}";
        let other_body = sign(SECRET.as_bytes(), b"{ }");
        let other_key = sign(b"another-secret-of-some-length-0123", body);
        let good = sign(SECRET.as_bytes(), body);
        for bad in [
            other_body.as_str(),
            other_key.as_str(),
            &good[..good.len() - 2],
            &good.replace("sha256=", "sha1="),
            &good.replace("sha256=", ""),
            "sha256=zz",
            "",
        ] {
            let e = keys.verify(Some(bad), None, body).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Unauthorized, "{bad}");
        }
        assert_eq!(
            keys.verify(None, None, body).unwrap_err().code(),
            ErrorCode::Unauthorized
        );
    }

    #[test]
    fn during_a_rotation_old_and_new_secrets_are_both_accepted() {
        let keys = WebhookKeys::parse(
            r#"{"hmac": ["new-secret-0123456789-0123456789", "old-secret-0123456789-0123456789"]}"#,
        )
        .unwrap();
        for s in [
            "new-secret-0123456789-0123456789",
            "old-secret-0123456789-0123456789",
        ] {
            keys.verify(Some(&sign(s.as_bytes(), b"x")), None, b"x")
                .unwrap();
        }
    }

    #[test]
    fn bearer_tokens_only_when_configured() {
        let keys = WebhookKeys::parse(SECRET).unwrap();
        assert!(
            keys.verify(None, Some(&format!("Bearer {SECRET}")), b"")
                .is_err()
        );
        let keys = keys.with_bearer(Some("jira-static-token-0123456789-0123"));
        keys.verify(None, Some("Bearer jira-static-token-0123456789-0123"), b"")
            .unwrap();
        assert!(
            keys.verify(None, Some("Bearer jira-static-token-0123456789-012"), b"")
                .is_err()
        );
        assert!(keys.verify(None, Some("Basic amlyYQ=="), b"").is_err());
    }

    #[test]
    fn no_keys_means_every_webhook_is_refused() {
        let keys = WebhookKeys::default();
        let e = keys.verify(Some(&sign(b"", b"")), None, b"").unwrap_err();
        assert_eq!(e.code(), ErrorCode::Unauthorized);
    }

    #[test]
    fn keys_never_show_in_debug_output() {
        let keys = WebhookKeys::parse(SECRET).unwrap();
        assert!(!format!("{keys:?}").contains(SECRET));
    }

    #[test]
    fn every_secret_is_at_least_32_characters_and_a_blank_one_is_refused() {
        assert!(WebhookKeys::parse(&"s".repeat(31)).is_err());
        assert!(WebhookKeys::parse(&"s".repeat(32)).is_ok());
        assert!(
            WebhookKeys::parse("   ").is_err(),
            "never an empty HMAC key"
        );
        assert!(WebhookKeys::parse(&format!("  {}  ", "s".repeat(31))).is_err());
        assert!(WebhookKeys::parse(r#"{"hmac": "short"}"#).is_err());
        assert!(
            WebhookKeys::parse(&format!(
                r#"{{"hmac": "{}", "bearer": "short"}}"#,
                "s".repeat(32)
            ))
            .is_err()
        );
        assert!(WebhookKeys::parse(r#"{"hmac": 5}"#).is_err());
        assert!(WebhookKeys::parse("{not json").is_err());
    }
}
