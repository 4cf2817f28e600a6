//! The immutable copy of each evidence pack: one object per grant under the
//! store's prefix, in a bucket with versioning and Object Lock (the template
//! creates it with a default retention, so every version written is locked).

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};

use super::aws_error;
use crate::domain::EvidenceCopy;
use crate::ports::EvidenceStore;

/// Every pack is written under this prefix: the function may write nowhere else.
pub const EVIDENCE_PREFIX: &str = "evidence/";

pub struct S3Evidence {
    client: super::Lazy<Client>,
    bucket: String,
}

impl S3Evidence {
    pub fn new(client: super::Lazy<Client>, bucket: String) -> Self {
        S3Evidence { client, bucket }
    }
}

/// The object key for a pack named `name`: under the prefix, each character
/// outside letters, digits, `.`, `-` and `_` percent-encoded (a ticket's `/`
/// never makes a folder, and nothing leaves the prefix).
pub fn evidence_key(name: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'.')
        .remove(b'-')
        .remove(b'_');
    format!(
        "{EVIDENCE_PREFIX}{}",
        percent_encoding::utf8_percent_encode(name, KEEP)
    )
}

#[async_trait]
impl EvidenceStore for S3Evidence {
    async fn keep(&self, name: &str, body: &[u8]) -> anyhow::Result<EvidenceCopy> {
        let key = evidence_key(name);
        let sha256 = hex::encode(Sha256::digest(body));
        // The checksum S3 verifies on receipt (Object Lock requires one).
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .metadata("sha256", &sha256)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error(&format!("s3:PutObject s3://{}/{key}", self.bucket), e))?;
        Ok(EvidenceCopy {
            bucket: self.bucket.clone(),
            key,
            version_id: out.version_id().map(str::to_owned),
            sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_under_the_prefix_and_make_no_folders() {
        assert_eq!(evidence_key("AUD-1042"), "evidence/AUD-1042");
        assert_eq!(evidence_key("SEC/2026:7 x"), "evidence/SEC%2F2026%3A7%20x");
        assert_eq!(evidence_key("../x"), "evidence/..%2Fx");
    }
}
