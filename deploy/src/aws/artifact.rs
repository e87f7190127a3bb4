//! The stack's artifact bucket: where `up` puts a local build of the airq binaries for instances to download.
//! The bucket is private (public access blocked), tagged with the stack, and found again by that tag; objects are
//! named by the artifact's checksum, so uploading the same build twice is a no-op.

use std::io::Read;
use std::path::Path;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, PublicAccessBlockConfiguration, Tag,
    Tagging,
};
use sha2::{Digest, Sha256};

use super::Aws;
use crate::error::{classify, fail, Call, DeployError};
use crate::plan::hex;
use crate::stack::TAG_STACK;

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

/// The name of the stack's bucket: its prefix and 8 hex digits of a hash of the account, region and
/// stack. Bucket names are global, so the account keeps two accounts' stacks of the same name apart, and the
/// name is the same on every run, so `plan` shows the bucket `up` then creates.
pub async fn bucket_name(aws: &Aws) -> Result<String, DeployError> {
    let account = aws.account_id().await?;
    let digest = Sha256::digest(format!("{account}/{}/{}", aws.region, aws.stack).as_bytes());
    Ok(format!(
        "{}{}",
        aws.stack.bucket_prefix(),
        &hex(&digest)[..8]
    ))
}

/// The stack's bucket, if it exists: the one [`bucket_name`] names, carrying the stack tag. Looked up by
/// name (`HeadBucket`), never by listing the account's buckets: a listing also returns buckets of other regions,
/// which the regional endpoint cannot answer for.
pub async fn find_bucket(aws: &Aws) -> Result<Option<String>, DeployError> {
    let name = bucket_name(aws).await?;
    // Every call on the bucket names its expected owner: a bucket of this name in another account is never
    // read from or written to.
    let owner = aws.account_id().await?;
    match aws
        .s3
        .head_bucket()
        .expected_bucket_owner(&owner)
        .bucket(&name)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => return Ok(None),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => return Ok(None),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => {
            return Err(DeployError::Unexpected {
                resource: format!("bucket {name}"),
                message: "HeadBucket was refused (403): the name belongs to another AWS account, or this \
                          identity lacks s3:ListBucket on it"
                    .into(),
            })
        }
        Err(e) => {
            return Err(fail("HeadBucket", "s3:ListBucket", format!("bucket {name}"))(e))
        }
    }
    let tags = match aws
        .s3
        .get_bucket_tagging()
        .expected_bucket_owner(&owner)
        .bucket(&name)
        .send()
        .await
    {
        Ok(t) => t,
        Err(e) if e.code() == Some("NoSuchTagSet") => return Ok(None),
        Err(e) => {
            return Err(fail(
                "GetBucketTagging",
                "s3:GetBucketTagging",
                format!("bucket {name}"),
            )(e))
        }
    };
    let ours = tags
        .tag_set()
        .iter()
        .any(|t| t.key() == TAG_STACK && t.value() == aws.stack.as_str());
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
    let owner = aws.account_id().await?;
    let call = |op| Call::new(op, "s3:CreateBucket", format!("bucket {name}"));
    // S3 answers OperationAborted for a while after a bucket of the same name was deleted (a `down` moments
    // ago): try again, for a bounded time.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut pause = std::time::Duration::from_secs(2);
    loop {
        let mut request = aws.s3.create_bucket().bucket(name);
        // us-east-1 is the one region that must not be named as a location constraint.
        if aws.region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(aws.region.as_str()))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => break,
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => break,
            Err(e) if e.code() == Some("BucketAlreadyExists") => {
                return Err(DeployError::Unexpected {
                    resource: format!("bucket {name}"),
                    message: "the name is taken by another AWS account; the stack cannot have its artifact \
                              bucket (give an https:// --artifact instead)"
                        .into(),
                })
            }
            Err(e)
                if e.code() == Some("OperationAborted")
                    && tokio::time::Instant::now() + pause < deadline =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(20));
            }
            Err(e) => return Err(classify(call("CreateBucket"), None, e)),
        }
    }
    aws.s3
        .put_public_access_block()
        .expected_bucket_owner(&owner)
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(fail(
            "PutPublicAccessBlock",
            "s3:PutBucketPublicAccessBlock",
            format!("bucket {name}"),
        ))?;
    let tag = Tag::builder()
        .key(TAG_STACK)
        .value(aws.stack.as_str())
        .build()
        .map_err(|e| DeployError::Unexpected {
            resource: format!("bucket {name}"),
            message: e.to_string(),
        })?;
    let tagging = Tagging::builder()
        .tag_set(tag)
        .build()
        .map_err(|e| DeployError::Unexpected {
            resource: format!("bucket {name}"),
            message: e.to_string(),
        })?;
    aws.s3
        .put_bucket_tagging()
        .expected_bucket_owner(&owner)
        .bucket(name)
        .tagging(tagging)
        .send()
        .await
        .map_err(fail(
            "PutBucketTagging",
            "s3:PutBucketTagging",
            format!("bucket {name}"),
        ))?;
    Ok(())
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
    let owner = aws.account_id().await?;
    let call = |op, perm| Call::new(op, perm, format!("bucket {name}"));
    let mut token = None;
    loop {
        let out = aws
            .s3
            .list_objects_v2()
            .expected_bucket_owner(&owner)
            .bucket(name)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| classify(call("ListObjectsV2", "s3:ListBucket"), None, e))?;
        for object in out.contents() {
            if let Some(key) = object.key() {
                aws.s3
                    .delete_object()
                    .expected_bucket_owner(&owner)
                    .bucket(name)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| classify(call("DeleteObject", "s3:DeleteObject"), None, e))?;
            }
        }
        token = out.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    match aws
        .s3
        .delete_bucket()
        .expected_bucket_owner(&owner)
        .bucket(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("NoSuchBucket") => Ok(()),
        Err(e) => Err(classify(call("DeleteBucket", "s3:DeleteBucket"), None, e)),
    }
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
