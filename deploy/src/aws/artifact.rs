//! The stack's artifact bucket: where `up` puts a local build of the airq binaries for instances to download.
//! The bucket is one of the stack's private, tagged buckets (see [`super::bucket`]), found again by its name and
//! tag; objects are named by the artifact's checksum, so uploading the same build twice is a no-op.

use std::io::Read;
use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};

use super::{bucket, Aws};
use crate::error::{fail, DeployError};
use crate::plan::hex;

/// Checksum and size of a local artifact.
pub fn checksum(path: &Path) -> Result<(String, u64), DeployError> {
    let io = |source| DeployError::Io {
        what: format!("reading the artifact {}", path.display()),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

/// The object key of an artifact with this checksum.
pub fn key_for(sha256: &str) -> String {
    format!("artifacts/airq-{}.tar.gz", &sha256[..sha256.len().min(16)])
}

/// The name of the stack's artifact bucket (see [`crate::stack::StackName::bucket_suffix`]).
pub async fn bucket_name(aws: &Aws) -> Result<String, DeployError> {
    let account = aws.account_id().await?;
    Ok(aws.stack.artifact_bucket(&account, &aws.region))
}

/// The stack's bucket, if it exists: the one [`bucket_name`] names, carrying the stack tag.
pub async fn find_bucket(aws: &Aws) -> Result<Option<String>, DeployError> {
    let name = bucket_name(aws).await?;
    let ours = bucket::exists(aws, &name).await? && bucket::tagged(aws, &name).await?;
    Ok(ours.then_some(name))
}

pub async fn object_exists(aws: &Aws, bucket: &str, key: &str) -> Result<bool, DeployError> {
    let owner = aws.account_id().await?;
    match aws
        .s3
        .head_object()
        .expected_bucket_owner(&owner)
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
        Err(e) => Err(fail(
            "HeadObject",
            "s3:GetObject",
            format!("s3://{bucket}/{key}"),
        )(e)),
    }
}

/// Creates the private, tagged bucket.
pub async fn create_bucket(aws: &Aws, name: &str) -> Result<(), DeployError> {
    bucket::create(
        aws,
        name,
        "its artifact bucket (give an https:// --artifact instead)",
    )
    .await
}

/// Uploads the artifact.
pub async fn upload(aws: &Aws, bucket: &str, key: &str, path: &Path) -> Result<(), DeployError> {
    let owner = aws.account_id().await?;
    let body = ByteStream::from_path(path)
        .await
        .map_err(|e| DeployError::Io {
            what: format!("reading the artifact {}", path.display()),
            source: std::io::Error::other(e.to_string()),
        })?;
    aws.s3
        .put_object()
        .expected_bucket_owner(&owner)
        .bucket(bucket)
        .key(key)
        .body(body)
        .content_type("application/gzip")
        .send()
        .await
        .map_err(fail(
            "PutObject",
            "s3:PutObject",
            format!("s3://{bucket}/{key}"),
        ))?;
    Ok(())
}

/// Empties and deletes the bucket.
pub async fn delete_bucket(aws: &Aws, name: &str) -> Result<(), DeployError> {
    bucket::delete(aws, name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a");
        std::fs::write(&path, b"abc").expect("write");
        let (sha, size) = checksum(&path).expect("checksum");
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(size, 3);
        assert_eq!(key_for(&sha), "artifacts/airq-ba7816bf8f01cfea.tar.gz");
        assert!(checksum(&dir.path().join("missing")).is_err());
    }
}
