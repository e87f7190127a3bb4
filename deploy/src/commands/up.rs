//! `plan` and `up` on AWS: the artifact and settings from the command line, what the stack has, the plan
//! between them, and (for `up`) applying it.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use super::write_err;
use crate::api_keys::GatewayAccess;
use crate::aws::{self, apply::Applied, observe::Lookups, Aws};
use crate::cli::UpArgs;
use crate::error::DeployError;
use crate::plan::{self, Desired, LaunchSettings, Observed, Plan, Upload};
use crate::roles::{ArtifactLocation, RoleOptions};

/// `--artifact-sha256`, lower-cased, if given; an error if it is not a hex SHA-256.
fn given_sha256(args: &UpArgs) -> Result<Option<String>, DeployError> {
    if let Some(sha) = &args.artifact_sha256 {
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(DeployError::Invalid(format!(
                "--artifact-sha256 {sha:?} is not a hex SHA-256"
            )));
        }
    }
    Ok(args
        .artifact_sha256
        .as_ref()
        .map(|s| s.to_ascii_lowercase()))
}

/// `--artifact`, checked: an https URL instances fetch, or a local package to upload.
enum Artifact {
    Url(ArtifactLocation),
    Local {
        path: PathBuf,
        sha256: String,
        size: u64,
    },
}

/// Checks `--artifact` without AWS: a URL's scheme, or that a local file is a package made by
/// `scripts/package` (see [`crate::package`]) whose checksum matches `--artifact-sha256` if given.
fn check_artifact(args: &UpArgs) -> Result<Artifact, DeployError> {
    let a = args.artifact.as_str();
    let sha = given_sha256(args)?;
    if a.starts_with("s3://") {
        return Err(DeployError::Invalid(format!(
            "--artifact {a}: give a local file (uploaded to the stack's own bucket, which the instances may read) or \
             an https:// URL; other S3 locations are not readable under the instances' least-privilege policy"
        )));
    }
    if a.starts_with("https://") {
        return Ok(Artifact::Url(ArtifactLocation {
            url: a.to_string(),
            sha256: sha,
        }));
    }
    if a.starts_with("http://") {
        return Err(DeployError::Invalid(format!(
            "--artifact {a}: plain http is refused (the binaries would travel unauthenticated); use https:// or a local file"
        )));
    }
    let path = PathBuf::from(a);
    let (sum, size) = aws::artifact::checksum(&path)?;
    crate::package::check(&path, &sum).map_err(|source| DeployError::Artifact {
        artifact: a.to_string(),
        source,
    })?;
    if let Some(given) = sha {
        if given != sum {
            return Err(DeployError::Invalid(format!(
                "--artifact {a} has SHA-256 {sum}, not the {given} given with --artifact-sha256"
            )));
        }
    }
    Ok(Artifact::Local {
        path,
        sha256: sum,
        size,
    })
}

/// The artifact as instances will fetch it, and the upload a local one needs (to `bucket`).
fn locate(artifact: Artifact, bucket: &str) -> (ArtifactLocation, Option<Upload>) {
    match artifact {
        Artifact::Url(location) => (location, None),
        Artifact::Local { path, sha256, size } => {
            let key = aws::artifact::key_for(&sha256);
            (
                ArtifactLocation {
                    url: format!("s3://{bucket}/{key}"),
                    sha256: Some(sha256),
                },
                Some(Upload {
                    path,
                    bucket: bucket.to_string(),
                    key,
                    size,
                }),
            )
        }
    }
}

/// What `plan` and `up` check before any AWS call, so that a wrong artifact or keys file is refused at once:
/// the artifact (see [`check_artifact`]) and who may use the gateways (without `--api-keys` or
/// `--no-api-keys`, or with a bad keys file, nothing is looked at or made).
pub fn check_inputs(args: &UpArgs) -> Result<(), DeployError> {
    check_artifact(args)?;
    GatewayAccess::from_flags(args.api_keys.as_deref(), args.no_api_keys)?;
    Ok(())
}

/// Observes the stack and builds what is asked of it. The artifact and the gateways' access are settled first,
/// before any AWS call ([`check_inputs`]).
pub async fn prepare(aws: &Aws, args: &UpArgs) -> Result<(Desired, Observed), DeployError> {
    let artifact = check_artifact(args)?;
    let api = GatewayAccess::from_flags(args.api_keys.as_deref(), args.no_api_keys)?;
    if let Some(ami) = &args.ami {
        aws::ec2::check_image(aws, ami).await?;
    }
    // The artifact's key depends on its checksum only; its bucket on what exists.
    let new_bucket = match artifact {
        Artifact::Local { .. } => aws::artifact::bucket_name(aws).await?,
        Artifact::Url(_) => String::new(),
    };
    let (mut artifact, mut upload) = locate(artifact, &new_bucket);
    let results_bucket = aws::results::bucket_name(aws).await?;
    let lookups = Lookups {
        results_bucket: results_bucket.clone(),
        artifact_key: upload.as_ref().map(|u| u.key.clone()),
        latest_ami: args.ami.is_none(),
    };
    let observed = Box::pin(aws::observe::observe(aws, &lookups)).await?;
    // Where the security group will go is settled now (no default VPC is a clear error), not half-way through up.
    if observed.groups.len() < crate::stack::GroupKind::ALL.len() {
        aws::ec2::vpc_id(aws, args.subnet.as_deref()).await?;
    }
    if let (Some(u), Some(bucket)) = (upload.as_mut(), observed.bucket.as_ref()) {
        u.bucket = bucket.clone();
        artifact.url = format!("s3://{bucket}/{}", u.key);
    }
    Ok((
        desired(aws, args, artifact, upload, results_bucket, api),
        observed,
    ))
}

/// The stack asked for on the command line, with the artifact settled.
fn desired(
    aws: &Aws,
    args: &UpArgs,
    artifact: ArtifactLocation,
    upload: Option<Upload>,
    results_bucket: String,
    api: GatewayAccess,
) -> Desired {
    Desired {
        stack: aws.stack.clone(),
        region: aws.region.clone(),
        gateways: args.gateways,
        masters: u32::from(!args.no_master),
        min_workers: args.workers,
        allow_cidr: args.allow_cidr.clone(),
        ssh_cidr: args.ssh_cidr.clone(),
        metrics_cidr: args.metrics_cidr.clone(),
        max_receives: args.max_receives,
        artifact,
        upload,
        results_bucket,
        launch: LaunchSettings {
            ami: args.ami.clone(),
            instance_type: args.instance_type.clone(),
            instance_profile: args.instance_profile.clone(),
            key_name: args.key_name.clone(),
            subnet: args.subnet.clone(),
        },
        roles: RoleOptions {
            port: args.port,
            direct_limit: args.direct_limit,
            worker_concurrency: args.worker_concurrency,
            master_source: args.master_source.clone(),
            master_every: args.master_every,
            api,
            metrics: args.metrics_cidr.is_some(),
        },
    }
}

/// `plan`: prints what `up` would do.
pub(super) async fn plan(
    aws: &Aws,
    args: &UpArgs,
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    let (desired, observed) = Box::pin(prepare(aws, args)).await?;
    let plan = plan::plan(&desired, &observed).map_err(|e| DeployError::Invalid(e.to_string()))?;
    print_plan(&plan, json_out, out)
}

fn print_plan(
    plan: &Plan,
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    if json_out {
        let steps: Vec<String> = plan.steps.iter().map(ToString::to_string).collect();
        say!(out, "{}", json!({ "steps": steps, "notes": plan.notes }))
    } else {
        write!(out, "{plan}").map_err(write_err)
    }
}

/// `up`: prints the plan, applies it, and reports what was done and the stack's status.
pub(super) async fn up(
    aws: &Aws,
    args: &UpArgs,
    wait: Duration,
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    let (desired, observed) = Box::pin(prepare(aws, args)).await?;
    let plan = plan::plan(&desired, &observed).map_err(|e| DeployError::Invalid(e.to_string()))?;
    if !json_out {
        write!(out, "{plan}").map_err(write_err)?;
    }
    let mut done = Vec::new();
    let applied = Box::pin(aws::apply::apply(
        aws,
        &desired,
        &observed,
        &plan,
        wait,
        |step| {
            done.push(step.to_string());
        },
    ))
    .await;
    let applied = match applied {
        Ok(a) => a,
        Err(e) => {
            if !json_out {
                say!(
                    out,
                    "stopped after {} of {} step(s); fix the cause and run `up` again to finish",
                    done.len(),
                    plan.steps.len()
                )?;
            }
            return Err(e);
        }
    };
    Box::pin(print_applied(aws, &plan, &applied, &done, json_out, out)).await
}

/// What `up` did: the steps and launches, then (as text) the stack's status.
async fn print_applied(
    aws: &Aws,
    plan: &Plan,
    applied: &Applied,
    done: &[String],
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    if json_out {
        return say!(
            out,
            "{}",
            json!({ "done": done, "launched": applied.launched, "notes": plan.notes })
        );
    }
    if !plan.is_empty() {
        say!(
            out,
            "done: {} step(s); launched {}",
            applied.steps_done,
            applied.launched.len()
        )?;
    }
    let status = Box::pin(aws::status::status(aws)).await?;
    write!(out, "{status}").map_err(write_err)
}
