//! The comparison itself: one function per kind of resource, each adding the steps (and notes) its resources
//! need, called in the order `up` must make them.

use super::{launch_specs, Desired, Ingress, Observed, Plan, PlanError, Step};
use crate::api_keys::GatewayAccess;
use crate::stack::{GroupKind, Role};

/// Computes the plan: the steps that bring what is observed to what is desired, in the order they must run.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    table(desired, observed, &mut plan)?;
    results(desired, observed, &mut plan)?;
    queues(desired, observed, &mut plan);
    artifact(desired, observed, &mut plan);
    for kind in GroupKind::ALL {
        security_group(desired, observed, kind, &mut plan);
    }
    templates(desired, observed, &mut plan)?;
    launch_notes(desired, observed, &mut plan);
    instances(desired, observed, &mut plan);
    Ok(plan)
}

/// The table: created, or tagged if it lacks the stack tag; an error while an earlier `down` still deletes it.
fn table(desired: &Desired, observed: &Observed, plan: &mut Plan) -> Result<(), PlanError> {
    let table = desired.stack.table();
    match &observed.table {
        Some(t) if t.deleting => {
            return Err(PlanError::StillDeleting(format!("the table {table}")))
        }
        None => plan.steps.push(Step::CreateTable {
            name: table.clone(),
        }),
        Some(t) if !t.tagged => plan.steps.push(Step::TagTable {
            name: table.clone(),
        }),
        Some(_) => {}
    }
    Ok(())
}

/// The result store: its table (created with its TTL, or tagged, or its TTL turned on) and its bucket (created
/// private, tagged and with its lifecycle rule, or made so). Both come before the launch templates, whose
/// user data names them.
fn results(desired: &Desired, observed: &Observed, plan: &mut Plan) -> Result<(), PlanError> {
    let name = desired.stack.results_table();
    match &observed.results_table {
        Some(t) if t.deleting => return Err(PlanError::StillDeleting(format!("the table {name}"))),
        None => plan.steps.push(Step::CreateResultsTable { name }),
        Some(t) => {
            if t.ttl == Some(false) {
                plan.steps
                    .push(Step::EnableResultsTtl { name: name.clone() });
            }
            if !t.tagged {
                plan.steps.push(Step::TagTable { name });
            }
        }
    }
    let name = desired.results_bucket.clone();
    match &observed.results_bucket {
        None => plan.steps.push(Step::CreateResultsBucket { name }),
        Some(b) => {
            let missing: Vec<&'static str> = [
                (!b.tagged, "add the stack tag"),
                (!b.private, "block public access"),
                (!b.lifecycle, "set the lifecycle rule"),
            ]
            .into_iter()
            .filter_map(|(lacks, fix)| lacks.then_some(fix))
            .collect();
            if !missing.is_empty() {
                plan.steps
                    .push(Step::ConfigureResultsBucket { name, missing });
            }
        }
    }
    Ok(())
}

/// The queues: the dead-letter queue first, so the request queue's redrive can name it.
fn queues(desired: &Desired, observed: &Observed, plan: &mut Plan) {
    let stack = &desired.stack;
    let (request, dlq) = (stack.request_queue(), stack.dead_letter_queue());
    let steps = &mut plan.steps;
    match &observed.dead_letter_queue {
        None => steps.push(Step::CreateQueue {
            name: dlq.clone(),
            dead_letter: None,
        }),
        Some(q) if !q.tagged => steps.push(Step::TagQueue { name: dlq.clone() }),
        Some(_) => {}
    }
    match &observed.request_queue {
        None => steps.push(Step::CreateQueue {
            name: request.clone(),
            dead_letter: Some((dlq.clone(), desired.max_receives)),
        }),
        Some(q) => {
            if q.max_receives != Some(desired.max_receives) {
                steps.push(Step::SetRedrive {
                    name: request.clone(),
                    dead_letter: dlq.clone(),
                    max_receives: desired.max_receives,
                });
            }
            if !q.tagged {
                steps.push(Step::TagQueue {
                    name: request.clone(),
                });
            }
        }
    }
}

/// The artifact: a local one is uploaded to the stack's bucket, made first if the stack has none.
fn artifact(desired: &Desired, observed: &Observed, plan: &mut Plan) {
    if let Some(upload) = &desired.upload {
        if observed.bucket.is_none() {
            plan.steps.push(Step::CreateBucket {
                name: upload.bucket.clone(),
            });
        }
        if !observed.artifact_uploaded {
            plan.steps.push(Step::UploadArtifact(upload.clone()));
        }
    }
}

/// The rules a security group should have: the gateways' opens exactly the gateway port to the allowed CIDR;
/// the master's and workers' opens nothing; both open SSH, and the metrics port (every role serves metrics
/// there), only when asked.
fn wanted_rules(desired: &Desired, kind: GroupKind) -> Vec<Ingress> {
    let mut wanted = Vec::new();
    if kind == GroupKind::Gateway {
        wanted.push(Ingress::tcp(desired.roles.port, &desired.allow_cidr));
    }
    if let Some(cidr) = &desired.ssh_cidr {
        wanted.push(Ingress::tcp(22, cidr));
    }
    if let Some(cidr) = &desired.metrics_cidr {
        wanted.push(Ingress::tcp(crate::roles::METRICS_PORT, cidr));
    }
    wanted
}

/// One security group: created if missing, then its rules made exactly the wanted ones.
fn security_group(desired: &Desired, observed: &Observed, kind: GroupKind, plan: &mut Plan) {
    let name = desired.stack.security_group(kind);
    let wanted = wanted_rules(desired, kind);
    let steps = &mut plan.steps;
    let existing = match observed.groups.get(&kind) {
        None => {
            steps.push(Step::CreateSecurityGroup {
                kind,
                name: name.clone(),
            });
            Vec::new()
        }
        Some(g) => g.ingress.clone(),
    };
    for rule in &wanted {
        if !existing.contains(rule) {
            steps.push(Step::AuthorizeIngress {
                kind,
                name: name.clone(),
                rule: rule.clone(),
            });
        }
    }
    for rule in &existing {
        if !wanted.contains(rule) {
            steps.push(Step::RevokeIngress {
                kind,
                name: name.clone(),
                rule: rule.clone(),
                rule_id: observed
                    .groups
                    .get(&kind)
                    .and_then(|g| g.rule_ids.get(rule).cloned()),
            });
        }
    }
}

/// The launch templates: created, or given a new version when the settings' hash differs. Running gateways
/// keep the settings they were launched with, API keys included, which matters most after a key was revoked.
fn templates(desired: &Desired, observed: &Observed, plan: &mut Plan) -> Result<(), PlanError> {
    for spec in launch_specs(desired, observed)? {
        match observed.templates.get(&spec.role) {
            None => plan.steps.push(Step::CreateLaunchTemplate(spec)),
            Some(t) if t.spec_hash.as_deref() != Some(spec.hash().as_str()) => {
                let reason = if t.image_id.as_deref() != Some(spec.image_id.as_str()) {
                    format!(
                        "AMI {} -> {}",
                        t.image_id.as_deref().unwrap_or("?"),
                        spec.image_id
                    )
                } else {
                    "launch settings changed".to_string()
                };
                let running = observed.live(spec.role).len();
                if spec.role == Role::Gateway && running > 0 {
                    plan.notes.push(format!(
                        "{running} running gateway(s) keep their settings and API keys until replaced: terminate \
                         them and run `up` again (docs/operations.md, rolling out a new build)"
                    ));
                }
                plan.steps.push(Step::UpdateLaunchTemplate { spec, reason });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// What the operator should know about the launch settings: a newer AMI than the one kept, gateways run open
/// (`--no-api-keys`), no instance profile.
fn launch_notes(desired: &Desired, observed: &Observed, plan: &mut Plan) {
    if desired.launch.ami.is_none() {
        if let (Some(latest), Some(t)) =
            (&observed.latest_ami, observed.templates.get(&Role::Worker))
        {
            if t.image_id.as_deref() != Some(latest.as_str()) {
                plan.notes.push(format!(
                    "a newer Amazon Linux 2023 AMI is available ({latest}); pass --ami {latest} to use it"
                ));
            }
        }
    }
    if desired.gateways > 0 && desired.roles.api == GatewayAccess::Open {
        plan.notes.push(
            "--no-api-keys: the gateways' API is open to anyone --allow-cidr lets in, and any client may read or \
             cancel any queued job"
                .to_string(),
        );
    }
    if desired.launch.instance_profile.is_none() {
        plan.notes.push(
            "no --instance-profile: instances will have no AWS credentials and cannot reach DynamoDB or SQS"
                .to_string(),
        );
    }
}

/// The instances: gateways and the master exactly; workers at least.
fn instances(desired: &Desired, observed: &Observed, plan: &mut Plan) {
    for (role, wanted, exact) in [
        (Role::Gateway, desired.gateways, true),
        (Role::Master, desired.masters, true),
        (Role::Worker, desired.min_workers, false),
    ] {
        role_count(observed, role, wanted, exact, plan);
        let stopped = observed
            .instances
            .iter()
            .filter(|i| i.role == role && matches!(i.state.as_str(), "stopped" | "stopping"))
            .count();
        if stopped > 0 {
            plan.notes.push(format!(
                "{stopped} stopped {role} instance(s) are not counted; start or terminate them"
            ));
        }
    }
}

/// Launches up to `wanted` live instances of `role`; when `exact`, terminates those above it, newest first.
fn role_count(observed: &Observed, role: Role, wanted: u32, exact: bool, plan: &mut Plan) {
    let mut live = observed.live(role);
    let have = live.len() as u32;
    if have < wanted {
        plan.steps.push(Step::Launch {
            role,
            count: wanted - have,
        });
    } else if have > wanted && exact {
        // Newest first, as `scale` does.
        live.sort_by_key(|i| std::cmp::Reverse((i.launched, i.id.clone())));
        let instance_ids = live
            .iter()
            .take((have - wanted) as usize)
            .map(|i| i.id.clone())
            .collect();
        plan.steps.push(Step::Terminate { role, instance_ids });
    } else if have > wanted {
        plan.notes.push(format!(
            "{have} workers run (at least {wanted} asked); `scale` and `autoscale` manage the worker count"
        ));
    }
}
