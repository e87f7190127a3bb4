//! The stack's S3 buckets, whatever they hold (the artifact bucket, the results bucket): private (public access
//! blocked), tagged with the stack, looked up by name and never by listing the account's buckets (a listing also
//! returns buckets of other regions, which the regional endpoint cannot answer for).
//!
//! Bucket names are global, so every call on a bucket that can name its expected owner does: a bucket of the
//! stack's name in another account is never read from or written to. (CreateBucket cannot; it fails on a name
//! another account holds, with a message saying so.)

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier,
    PublicAccessBlockConfiguration, Tag, Tagging,
};

use super::Aws;
use crate::error::{classify, fail, Call, DeployError};
use crate::stack::TAG_STACK;

fn unexpected(name: &str, message: impl ToString) -> DeployError {
    DeployError::Unexpected {
        resource: format!("bucket {name}"),
        message: message.to_string(),
    }
}

/// Whether the bucket exists in this account (`HeadBucket`).
pub async fn exists(aws: &Aws, name: &str) -> Result<bool, DeployError> {
    let owner = aws.account_id().await?;
    match aws
        .s3
        .head_bucket()
        .expected_bucket_owner(&owner)
        .bucket(name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => Err(unexpected(
            name,
            "HeadBucket was refused (403): the name belongs to another AWS account, or this identity lacks \
             s3:ListBucket on it",
        )),
        Err(e) => Err(fail("HeadBucket", "s3:ListBucket", format!("bucket {name}"))(e)),
    }
}

/// Whether the bucket carries the stack tag.
pub async fn tagged(aws: &Aws, name: &str) -> Result<bool, DeployError> {
    let owner = aws.account_id().await?;
    let tags = match aws
        .s3
        .get_bucket_tagging()
        .expected_bucket_owner(&owner)
        .bucket(name)
        .send()
        .await
    {
        Ok(t) => t,
        Err(e) if e.code() == Some("NoSuchTagSet") => return Ok(false),
        Err(e) => {
            return Err(fail(
                "GetBucketTagging",
                "s3:GetBucketTagging",
                format!("bucket {name}"),
            )(e))
        }
    };
    Ok(tags
        .tag_set()
        .iter()
        .any(|t| t.key() == TAG_STACK && t.value() == aws.stack.as_str()))
}

/// Whether all four public-access blocks are on.
pub async fn private(aws: &Aws, name: &str) -> Result<bool, DeployError> {
    let owner = aws.account_id().await?;
    let got = match aws
        .s3
        .get_public_access_block()
        .expected_bucket_owner(&owner)
        .bucket(name)
        .send()
        .await
    {
        Ok(got) => got,
        Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => return Ok(false),
        Err(e) => {
            return Err(fail(
                "GetPublicAccessBlock",
                "s3:GetBucketPublicAccessBlock",
                format!("bucket {name}"),
            )(e))
        }
    };
    Ok(got.public_access_block_configuration().is_some_and(|c| {
        [
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets(),
        ]
        .iter()
        .all(|b| *b == Some(true))
    }))
}

/// Creates the bucket, then makes it private and tags it. `purpose` says what the stack loses when the name is
/// another account's (`its artifact bucket (give an https:// --artifact instead)`).
pub async fn create(aws: &Aws, name: &str, purpose: &str) -> Result<(), DeployError> {
    let call = || Call::new("CreateBucket", "s3:CreateBucket", format!("bucket {name}"));
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
                return Err(unexpected(
                    name,
                    format!(
                        "the name is taken by another AWS account; the stack cannot have {purpose}"
                    ),
                ))
            }
            Err(e)
                if e.code() == Some("OperationAborted")
                    && tokio::time::Instant::now() + pause < deadline =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(20));
            }
            Err(e) => return Err(classify(call(), None, e)),
        }
    }
    block_public_access(aws, name).await?;
    tag(aws, name).await
}

/// Blocks every kind of public access.
pub async fn block_public_access(aws: &Aws, name: &str) -> Result<(), DeployError> {
    let owner = aws.account_id().await?;
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
    Ok(())
}

/// Sets the bucket's tags to the stack tag.
pub async fn tag(aws: &Aws, name: &str) -> Result<(), DeployError> {
    let owner = aws.account_id().await?;
    let tag = Tag::builder()
        .key(TAG_STACK)
        .value(aws.stack.as_str())
        .build()
        .map_err(|e| unexpected(name, e))?;
    let tagging = Tagging::builder()
        .tag_set(tag)
        .build()
        .map_err(|e| unexpected(name, e))?;
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

/// Empties the bucket (a thousand objects per request, the most S3 takes) and deletes it; a bucket already
/// gone is not an error. The results bucket may hold many answer parts, which one request each would make slow.
/// A part written while the bucket was being emptied (a worker still stopping) makes S3 refuse the deletion;
/// the bucket is then emptied again, a few times at most.
pub async fn delete(aws: &Aws, name: &str) -> Result<(), DeployError> {
    let owner = aws.account_id().await?;
    let mut attempts = 0;
    loop {
        attempts += 1;
        empty(aws, name, &owner).await?;
        match aws
            .s3
            .delete_bucket()
            .expected_bucket_owner(&owner)
            .bucket(name)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(()),
            Err(e) if e.code() == Some("BucketNotEmpty") && attempts < 3 => continue,
            Err(e) => {
                return Err(fail(
                    "DeleteBucket",
                    "s3:DeleteBucket",
                    format!("bucket {name}"),
                )(e))
            }
        }
    }
}

/// Deletes every object of the bucket.
async fn empty(aws: &Aws, name: &str, owner: &str) -> Result<(), DeployError> {
    let call = |op, perm| Call::new(op, perm, format!("bucket {name}"));
    let mut token = None;
    loop {
        let out = match aws
            .s3
            .list_objects_v2()
            .expected_bucket_owner(owner)
            .bucket(name)
            .set_continuation_token(token)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(()),
            Err(e) => return Err(classify(call("ListObjectsV2", "s3:ListBucket"), None, e)),
        };
        let keys: Vec<ObjectIdentifier> = out
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<_, _>>()
            .map_err(|e| unexpected(name, e))?;
        if !keys.is_empty() {
            let batch = Delete::builder()
                .set_objects(Some(keys))
                .quiet(true)
                .build()
                .map_err(|e| unexpected(name, e))?;
            let deleted = aws
                .s3
                .delete_objects()
                .expected_bucket_owner(owner)
                .bucket(name)
                .delete(batch)
                .send()
                .await
                .map_err(|e| classify(call("DeleteObjects", "s3:DeleteObject"), None, e))?;
            // Each key can fail on its own inside a successful response; the first such failure is reported.
            if let Some(failed) = deleted.errors().first() {
                let code = failed.code().unwrap_or("Error");
                return Err(crate::error::sort(
                    call("DeleteObjects", "s3:DeleteObject"),
                    None,
                    airq_common::aws::error::SdkFailure {
                        code: failed.code().map(str::to_string),
                        message: format!(
                            "{code}: {} (object {})",
                            failed.message().unwrap_or("not deleted"),
                            failed.key().unwrap_or("?")
                        ),
                        transient: false,
                    },
                ));
            }
        }
        token = out.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(());
        }
    }
}
