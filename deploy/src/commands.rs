//! The commands: each reads what it needs, calls the provider, and writes its report to `out`.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::json;

use crate::aws::{self, observe::Lookups, Aws};
use crate::cli::{AutoscaleArgs, Cli, Command, LocalArgs, Provider, UpArgs};
use crate::error::DeployError;
use crate::fleet::{self, Fleet, LoopOptions, Tick};
use crate::local::{LocalFleet, LocalOptions};
use crate::plan::{self, Desired, LaunchSettings, Observed, Plan, Upload};
use crate::roles::{ArtifactLocation, RoleOptions};
use crate::stack::StackName;
use crate::status::Status;
use crate::{autoscale, iam};

fn write_err(e: std::io::Error) -> DeployError {
    DeployError::Io {
        what: "writing the report".into(),
        source: e,
    }
}

macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err(write_err)
    };
}

/// The SDK configuration: the default chain, with the region override if given, and a standard retry policy.
pub async fn sdk_config(region: Option<String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(5));
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}

/// Runs one command.
pub async fn run(
    cli: Cli,
    config: &SdkConfig,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeployError> {
    let json_out = cli.json;
    match (cli.provider, cli.command) {
        (Provider::Local, Command::Status) => local_status(&cli.stack, &cli.local, json_out, out).await,
        (Provider::Local, Command::Scale { workers, wait }) => {
            let fleet = local_fleet(&cli.stack, &cli.local).await?;
            scale(&fleet, workers, json_out, out).await?;
            let still = fleet.wait_stopped(wait).await?;
            if still > 0 {
                say!(out, "{still} worker(s) still draining; `status` shows when they are gone")?;
            }
            Ok(())
        }
        (Provider::Local, Command::Autoscale(args)) => {
            let fleet = local_fleet(&cli.stack, &cli.local).await?;
            autoscale_command(&fleet, &args, json_out, out, shutdown).await
        }
        (Provider::Local, _) => Err(DeployError::Invalid(
            "--provider local runs workers on this machine and supports status, scale and autoscale only".into(),
        )),
        (Provider::Aws, command) => {
            let aws = Aws::new(config, cli.stack.clone())?;
            match command {
                Command::Plan(args) => {
                    let (desired, observed) = Box::pin(prepare(&aws, &args)).await?;
                    let plan = plan::plan(&desired, &observed).map_err(|e| DeployError::Invalid(e.to_string()))?;
                    print_plan(&plan, json_out, out)
                }
                Command::Up { args, wait } => Box::pin(up(&aws, &args, wait, json_out, out)).await,
                Command::IamPolicy { account, trust, operator } => {
                    let account = match account {
                        Some(a) => a,
                        None if trust => String::new(),
                        None => aws.account_id().await?,
                    };
                    let scope = iam::Scope::new(&aws.region, &account);
                    let policy = if trust {
                        iam::trust_policy()
                    } else if operator {
                        iam::operator_policy(&aws.stack, &scope)
                    } else {
                        iam::instance_policy(&aws.stack, &scope)
                    };
                    say!(out, "{}", serde_json::to_string_pretty(&policy).unwrap_or_default())
                }
                Command::Status => {
                    let status = Box::pin(aws::status::status(&aws)).await?;
                    print_status(&status, json_out, out)
                }
                Command::Scale { workers, .. } => {
                    let fleet = aws::fleet::Ec2Fleet::open(aws).await?;
                    scale(&fleet, workers, json_out, out).await
                }
                Command::Autoscale(args) => {
                    let fleet = aws::fleet::Ec2Fleet::open(aws).await?;
                    autoscale_command(&fleet, &args, json_out, out, shutdown).await
                }
                Command::Down { delete_data, yes, wait } => Box::pin(down(&aws, delete_data, yes, wait, json_out, out)).await,
            }
        }
    }
}

/// Whether `--artifact` names a local file (to upload) rather than a URL.
fn is_local_artifact(artifact: &str) -> bool {
    !["https://", "http://", "s3://"]
        .iter()
        .any(|p| artifact.starts_with(p))
}

/// The artifact as instances will fetch it, and the upload it needs (for a local file, to `bucket`).
fn artifact(
    args: &UpArgs,
    bucket: Option<&str>,
) -> Result<(ArtifactLocation, Option<Upload>), DeployError> {
    let a = args.artifact.as_str();
    if let Some(sha) = &args.artifact_sha256 {
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(DeployError::Invalid(format!(
                "--artifact-sha256 {sha:?} is not a hex SHA-256"
            )));
        }
    }
    let sha = args
        .artifact_sha256
        .as_ref()
        .map(|s| s.to_ascii_lowercase());
    if a.starts_with("s3://") {
        return Err(DeployError::Invalid(format!(
            "--artifact {a}: give a local file (uploaded to the stack's own bucket, which the instances may read) or \
             an https:// URL; other S3 locations are not readable under the instances' least-privilege policy"
        )));
    }
    if a.starts_with("https://") {
        return Ok((
            ArtifactLocation {
                url: a.to_string(),
                sha256: sha,
            },
            None,
        ));
    }
    if a.starts_with("http://") {
        return Err(DeployError::Invalid(format!(
            "--artifact {a}: plain http is refused (the binaries would travel unauthenticated); use https:// or a local file"
        )));
    }
    let path = PathBuf::from(a);
    let (sum, size) = aws::artifact::checksum(&path)?;
    if let Some(given) = &sha {
        if given != &sum {
            return Err(DeployError::Invalid(format!(
                "--artifact {a} has SHA-256 {sum}, not the {given} given with --artifact-sha256"
            )));
        }
    }
    let key = aws::artifact::key_for(&sum);
    let bucket = bucket.unwrap_or_default().to_string();
    Ok((
        ArtifactLocation {
            url: format!("s3://{bucket}/{key}"),
            sha256: Some(sum),
        },
        Some(Upload {
            path,
            bucket,
            key,
            size,
        }),
    ))
}

/// Observes the stack and builds what is asked of it.
pub async fn prepare(aws: &Aws, args: &UpArgs) -> Result<(Desired, Observed), DeployError> {
    if let Some(ami) = &args.ami {
        aws::ec2::check_image(aws, ami).await?;
    }
    // The artifact's key depends on its checksum only; its bucket on what exists.
    let new_bucket = if is_local_artifact(&args.artifact) {
        Some(aws::artifact::bucket_name(aws).await?)
    } else {
        None
    };
    let (mut artifact, mut upload) = artifact(args, new_bucket.as_deref())?;
    let lookups = Lookups {
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
    let desired = Desired {
        stack: aws.stack.clone(),
        region: aws.region.clone(),
        gateways: args.gateways,
        masters: u32::from(!args.no_master),
        min_workers: args.workers,
        allow_cidr: args.allow_cidr.clone(),
        ssh_cidr: args.ssh_cidr.clone(),
        max_receives: args.max_receives,
        artifact,
        upload,
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
        },
    };
    Ok((desired, observed))
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

async fn up(
    aws: &Aws,
    args: &UpArgs,
    wait: std::time::Duration,
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
    if json_out {
        say!(
            out,
            "{}",
            json!({ "done": done, "launched": applied.launched, "notes": plan.notes })
        )
    } else {
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
}

async fn down(
    aws: &Aws,
    delete_data: bool,
    yes: bool,
    wait: std::time::Duration,
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    let inventory = Box::pin(aws::down::inventory(aws, delete_data)).await?;
    if !json_out {
        write!(out, "{inventory}").map_err(write_err)?;
    }
    if inventory.is_empty() {
        if json_out {
            say!(out, "{}", json!({ "removed": inventory }))?;
        }
        return Ok(());
    }
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(DeployError::Invalid(
                "down asks for confirmation and standard input is not a terminal; pass --yes"
                    .into(),
            ));
        }
        write!(
            out,
            "type the stack name ({}) to remove all of the above: ",
            aws.stack
        )
        .map_err(write_err)?;
        out.flush().map_err(write_err)?;
        let mut answer = String::new();
        stdin.read_line(&mut answer).map_err(|e| DeployError::Io {
            what: "reading the confirmation".into(),
            source: e,
        })?;
        if answer.trim() != aws.stack.as_str() {
            return Err(DeployError::Invalid(
                "not confirmed; nothing was removed".into(),
            ));
        }
    }
    Box::pin(aws::down::down(aws, &inventory, wait)).await?;
    if json_out {
        say!(out, "{}", json!({ "removed": inventory }))
    } else {
        say!(out, "stack {} removed", aws.stack)
    }
}

fn local_options(stack: &StackName, local: &LocalArgs) -> LocalOptions {
    LocalOptions {
        state_dir: local
            .state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("data/stacks").join(stack.as_str())),
        worker_bin: local
            .worker_bin
            .clone()
            .unwrap_or_else(crate::local::default_worker_bin),
        store: local.store.clone(),
        queue: local.queue.clone(),
        concurrency: local.local_concurrency,
        worker_args: Vec::new(),
    }
}

async fn local_fleet(stack: &StackName, local: &LocalArgs) -> Result<LocalFleet, DeployError> {
    let options = local_options(stack, local);
    if !options.worker_bin.exists() {
        return Err(DeployError::Invalid(format!(
            "the worker binary {} does not exist; build it (cargo build --release -p airq-worker) or pass --worker-bin",
            options.worker_bin.display()
        )));
    }
    LocalFleet::open(options).await
}

async fn local_status(
    stack: &StackName,
    local: &LocalArgs,
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    let fleet = LocalFleet::open(local_options(stack, local)).await?;
    let status = crate::local::status::status(stack, &fleet).await?;
    print_status(&status, json_out, out)
}

fn print_status(
    status: &Status,
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    if json_out {
        say!(out, "{}", serde_json::to_string(status).unwrap_or_default())
    } else {
        write!(out, "{status}").map_err(write_err)
    }
}

async fn scale(
    fleet: &dyn Fleet,
    workers: u32,
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    let outcome = fleet::scale(fleet, workers).await?;
    if json_out {
        say!(
            out,
            "{}",
            serde_json::to_string(&outcome).unwrap_or_default()
        )
    } else {
        say!(
            out,
            "workers: {} -> {} (launched {}, terminating {})",
            outcome.before,
            outcome.after,
            if outcome.launched.is_empty() {
                "none".into()
            } else {
                outcome.launched.join(", ")
            },
            if outcome.terminated.is_empty() {
                "none".into()
            } else {
                outcome.terminated.join(", ")
            }
        )
    }
}

/// The autoscaling policy from the command line.
pub fn policy(args: &AutoscaleArgs) -> Result<autoscale::Policy, DeployError> {
    let target = match args.target_backlog {
        Some(t) => t,
        None => autoscale::Policy::target_from(args.acceptable_latency, args.mean_job_time)
            .map_err(|e| DeployError::Invalid(e.to_string()))?,
    };
    let policy = autoscale::Policy {
        min: args.min,
        max: args.max,
        target_backlog_per_worker: target,
        max_step: args.max_step,
        scale_out_cooldown: args.scale_out_cooldown,
        scale_in_cooldown: args.cooldown,
    };
    policy
        .validate()
        .map_err(|e| DeployError::Invalid(e.to_string()))?;
    Ok(policy)
}

async fn autoscale_command(
    fleet: &dyn Fleet,
    args: &AutoscaleArgs,
    json_out: bool,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeployError> {
    let options = LoopOptions {
        policy: policy(args)?,
        interval: args.interval,
        dry_run: args.dry_run,
    };
    if !json_out {
        say!(
            out,
            "autoscaling {} between {} and {} workers, target backlog {:.1} per worker{}",
            fleet.describe(),
            options.policy.min,
            options.policy.max,
            options.policy.target_backlog_per_worker,
            if options.dry_run {
                " (dry run: nothing is changed)"
            } else {
                ""
            }
        )?;
    }
    let limit = args.duration;
    let stop = async move {
        match limit {
            Some(d) => {
                tokio::select! {
                    _ = shutdown => {},
                    _ = tokio::time::sleep(d) => {},
                }
            }
            None => shutdown.await,
        }
    };
    let mut write_failed = None;
    fleet::autoscale_loop(
        fleet,
        &options,
        stop,
        |tick: Result<&Tick, &DeployError>| {
            let line = match tick {
                Ok(t) if json_out => serde_json::to_string(t).unwrap_or_default(),
                Ok(t) => format!(
                    "[{:>7.1}s] {:?} -> {} workers: {}{}",
                    t.at_secs,
                    t.decision.action,
                    t.decision.desired,
                    t.decision.reason,
                    if t.dry_run && t.decision.action != autoscale::Action::Hold {
                        " (dry run)"
                    } else {
                        ""
                    }
                ),
                Err(e) if json_out => json!({ "error": e.to_string() }).to_string(),
                Err(e) => format!("error (retrying at the next tick): {e}"),
            };
            if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
                write_failed.get_or_insert(e);
            }
        },
    )
    .await?;
    match write_failed {
        Some(e) => Err(write_err(e)),
        None => Ok(()),
    }
}
