//! The instances' image: the latest Amazon Linux 2023 x86_64 AMI, and checks of an AMI given with `--ami`.

use super::filter;
use crate::aws::Aws;
use crate::error::{classify, fail, Call, DeployError};

/// The owner alias of Amazon's own AMIs.
const AMAZON: &str = "amazon";
/// Amazon Linux 2023 standard (not minimal) x86_64 images.
const AL2023_NAME: &str = "al2023-ami-2023.*-x86_64";

/// The newest Amazon Linux 2023 x86_64 AMI of the region, by creation date (then name).
pub async fn latest_al2023(aws: &Aws) -> Result<Option<String>, DeployError> {
    let out = aws
        .ec2
        .describe_images()
        .owners(AMAZON)
        .filters(filter("name", &[AL2023_NAME]))
        .filters(filter("architecture", &["x86_64"]))
        .filters(filter("state", &["available"]))
        .send()
        .await
        .map_err(fail(
            "DescribeImages",
            "ec2:DescribeImages",
            "Amazon Linux 2023 images",
        ))?;
    Ok(out
        .images()
        .iter()
        .filter(|i| !i.name().unwrap_or_default().contains("minimal"))
        .max_by(|a, b| {
            (
                a.creation_date().unwrap_or_default(),
                a.name().unwrap_or_default(),
            )
                .cmp(&(
                    b.creation_date().unwrap_or_default(),
                    b.name().unwrap_or_default(),
                ))
        })
        .and_then(|i| i.image_id().map(str::to_string)))
}

/// Checks that an AMI given with `--ami` exists in this region and is x86_64 (the airq artifact's
/// architecture), before anything is created: a bad AMI then fails `up` at once instead of half-way.
pub async fn check_image(aws: &Aws, ami: &str) -> Result<(), DeployError> {
    let call = || {
        Call::new(
            "DescribeImages",
            "ec2:DescribeImages",
            format!("the instances' image in {}", aws.region),
        )
    };
    let bad = |code: &str, message: String| DeployError::BadAmi {
        operation: "DescribeImages",
        resource: format!("the instances' image in {}", aws.region),
        ami: ami.to_string(),
        code: code.to_string(),
        message,
    };
    let out = aws
        .ec2
        .describe_images()
        .image_ids(ami)
        .send()
        .await
        .map_err(|e| classify(call(), Some(ami), e))?;
    let Some(image) = out.images().first() else {
        return Err(bad(
            "InvalidAMIID.NotFound",
            format!("no image {ami} in {}", aws.region),
        ));
    };
    match image.architecture().map(|a| a.as_str()) {
        Some("x86_64") | None => Ok(()),
        Some(other) => Err(bad(
            "UnsupportedArchitecture",
            format!("the image is {other}; the airq artifact is built for x86_64"),
        )),
    }
}
