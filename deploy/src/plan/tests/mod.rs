//! The planner's tests: one per rule of the diff. The result store's rules are in `results`, the metrics port's
//! in `metrics`.

use std::time::Duration;

use super::*;
use crate::api_keys::{GatewayAccess, KeysFile};
use crate::roles::{ArtifactLocation, RoleOptions};

/// A keys file of made-up hashes (of no key anyone has), so that every `desired()` is the same.
fn keys(names: &[&str]) -> GatewayAccess {
    let text: String = names
        .iter()
        .enumerate()
        .map(|(n, name)| format!("{name} sha256:{}\n", format!("{n:02x}").repeat(32)))
        .collect();
    GatewayAccess::Keys(KeysFile::parse(&text).expect("parses"))
}
use crate::stack::{GroupKind, Role, StackName};

fn desired() -> Desired {
    let stack: StackName = "prod".parse().expect("valid");
    Desired {
        region: "eu-west-1".into(),
        gateways: 1,
        masters: 1,
        min_workers: 2,
        allow_cidr: "203.0.113.0/24".into(),
        ssh_cidr: None,
        metrics_cidr: None,
        max_receives: 5,
        artifact: ArtifactLocation {
            url: "s3://airq-prod-artifacts-00000000/artifacts/airq-abc.tar.gz".into(),
            sha256: Some("ab".repeat(32)),
        },
        upload: Some(Upload {
            path: "dist/airq.tar.gz".into(),
            bucket: "airq-prod-artifacts-00000000".into(),
            key: "artifacts/airq-abc.tar.gz".into(),
            size: 1000,
        }),
        results_bucket: "airq-prod-results-00000000".into(),
        launch: LaunchSettings {
            ami: None,
            instance_type: "t3.small".into(),
            instance_profile: Some("airq".into()),
            key_name: None,
            subnet: None,
        },
        roles: RoleOptions {
            master_every: Duration::from_secs(300),
            ..RoleOptions::new(keys(&["alice", "bob"]))
        },
        stack,
    }
}

fn fresh() -> Observed {
    Observed {
        latest_ami: Some("ami-latest".into()),
        ..Observed::default()
    }
}

fn instance(id: &str, role: Role, launched: i64) -> InstanceState {
    InstanceState {
        id: id.into(),
        role,
        state: "running".into(),
        launched,
        public_ip: None,
        public_dns: None,
        artifact: None,
        spec: None,
        api: None,
    }
}

/// What AWS holds once `up` has made everything `d` asks for.
fn complete(d: &Desired) -> Observed {
    let mut o = fresh();
    o.table = Some(TableState {
        active: true,
        deleting: false,
        tagged: true,
        item_count: Some(0),
        ttl: None,
    });
    o.results_table = Some(TableState {
        active: true,
        deleting: false,
        tagged: true,
        item_count: Some(0),
        ttl: Some(true),
    });
    o.results_bucket = Some(BucketState {
        tagged: true,
        private: true,
        lifecycle: true,
    });
    let q = |n: Option<u32>| QueueState {
        url: "u".into(),
        max_receives: n,
        tagged: true,
    };
    o.request_queue = Some(q(Some(d.max_receives)));
    o.dead_letter_queue = Some(q(None));
    o.bucket = Some("airq-prod-artifacts-00000000".into());
    o.artifact_uploaded = true;
    o.groups.insert(
        GroupKind::Gateway,
        GroupState {
            id: "sg-1".into(),
            ingress: vec![Ingress::tcp(d.roles.port, &d.allow_cidr)],
            rule_ids: Default::default(),
        },
    );
    o.groups.insert(
        GroupKind::Private,
        GroupState {
            id: "sg-2".into(),
            ingress: vec![],
            rule_ids: Default::default(),
        },
    );
    for spec in launch_specs(d, &o).expect("specs") {
        o.templates.insert(
            spec.role,
            TemplateState {
                id: format!("lt-{}", spec.role),
                default_version: 1,
                spec_hash: Some(spec.hash()),
                image_id: Some(spec.image_id.clone()),
            },
        );
    }
    o.instances = vec![
        instance("i-g", Role::Gateway, 1),
        instance("i-m", Role::Master, 1),
        instance("i-w1", Role::Worker, 1),
        instance("i-w2", Role::Worker, 2),
    ];
    o
}

#[test]
fn a_fresh_account_gets_everything_in_dependency_order() {
    let p = plan(&desired(), &fresh()).expect("plan");
    let kinds: Vec<String> = p
        .steps
        .iter()
        .map(|s| {
            format!("{s:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "CreateTable",
            "CreateResultsTable",
            "CreateResultsBucket",
            "CreateQueue",
            "CreateQueue",
            "CreateBucket",
            "UploadArtifact",
            "CreateSecurityGroup",
            "AuthorizeIngress",
            "CreateSecurityGroup",
            "CreateLaunchTemplate",
            "CreateLaunchTemplate",
            "CreateLaunchTemplate",
            "Launch",
            "Launch",
            "Launch"
        ]
    );
    // The dead-letter queue comes first, and the request queue redrives to it.
    assert_eq!(
        p.steps[3],
        Step::CreateQueue {
            name: "airq-prod-requests-dlq".into(),
            dead_letter: None
        }
    );
    assert_eq!(
        p.steps[4],
        Step::CreateQueue {
            name: "airq-prod-requests".into(),
            dead_letter: Some(("airq-prod-requests-dlq".into(), 5))
        }
    );
    assert_eq!(
        p.steps[8],
        Step::AuthorizeIngress {
            kind: GroupKind::Gateway,
            name: "airq-prod-gateway".into(),
            rule: Ingress::tcp(8080, "203.0.113.0/24")
        }
    );
    assert!(p.steps.contains(&Step::Launch {
        role: Role::Worker,
        count: 2
    }));
    // The latest AL2023 AMI is used when none is given.
    assert!(p
        .steps
        .iter()
        .any(|s| matches!(s, Step::CreateLaunchTemplate(spec) if spec.image_id == "ami-latest")));
}

#[test]
fn a_complete_stack_plans_nothing() {
    let d = desired();
    let p = plan(&d, &complete(&d)).expect("plan");
    assert!(p.is_empty(), "{p}");
    assert!(p.to_string().starts_with("no changes"));
}

#[test]
fn a_half_done_up_is_finished() {
    let d = desired();
    let mut o = complete(&d);
    // Stopped after the master was launched: the worker launch failed.
    o.instances.retain(|i| i.role != Role::Worker);
    o.templates.remove(&Role::Worker);
    let p = plan(&d, &o).expect("plan");
    assert_eq!(p.steps.len(), 2, "{p}");
    assert!(matches!(&p.steps[0], Step::CreateLaunchTemplate(s) if s.role == Role::Worker));
    assert_eq!(
        p.steps[1],
        Step::Launch {
            role: Role::Worker,
            count: 2
        }
    );
}

#[test]
fn workers_above_the_minimum_are_left_to_scale() {
    let d = desired();
    let mut o = complete(&d);
    o.instances.push(instance("i-w3", Role::Worker, 3));
    let p = plan(&d, &o).expect("plan");
    assert!(p.is_empty(), "{p}");
    assert!(
        p.notes.iter().any(|n| n.contains("3 workers run")),
        "{:?}",
        p.notes
    );
}

#[test]
fn extra_gateways_are_terminated_newest_first() {
    let d = desired();
    let mut o = complete(&d);
    o.instances.push(instance("i-g3", Role::Gateway, 30));
    o.instances.push(instance("i-g2", Role::Gateway, 20));
    let p = plan(&d, &o).expect("plan");
    assert_eq!(
        p.steps,
        vec![Step::Terminate {
            role: Role::Gateway,
            instance_ids: vec!["i-g3".into(), "i-g2".into()]
        }]
    );
}

#[test]
fn stopped_and_terminated_instances_are_not_counted() {
    let d = desired();
    let mut o = complete(&d);
    for i in &mut o.instances {
        if i.role == Role::Gateway {
            i.state = "stopped".into();
        }
    }
    o.instances.push(InstanceState {
        state: "terminated".into(),
        ..instance("i-m0", Role::Master, 0)
    });
    let p = plan(&d, &o).expect("plan");
    assert_eq!(
        p.steps,
        vec![Step::Launch {
            role: Role::Gateway,
            count: 1
        }]
    );
    assert!(
        p.notes.iter().any(|n| n.contains("1 stopped gateway")),
        "{:?}",
        p.notes
    );
}

fn authorize(kind: GroupKind, rule: Ingress) -> Step {
    Step::AuthorizeIngress {
        kind,
        name: format!("airq-prod-{}", kind.as_str()),
        rule,
    }
}

fn revoke(kind: GroupKind, rule: Ingress) -> Step {
    Step::RevokeIngress {
        kind,
        name: format!("airq-prod-{}", kind.as_str()),
        rule,
        rule_id: None,
    }
}

#[test]
fn security_group_rules_are_made_exact() {
    let mut d = desired();
    let mut o = complete(&d);
    // Someone opened SSH to the world and IPv6 on the gateways, and the gateway port on the workers; the
    // allowed CIDR changed.
    let gateway = o.groups.get_mut(&GroupKind::Gateway).expect("group");
    gateway.ingress.push(Ingress::tcp(22, "0.0.0.0/0"));
    gateway.ingress.push(Ingress::tcp(8080, "::/0"));
    let private = o.groups.get_mut(&GroupKind::Private).expect("group");
    private.ingress.push(Ingress::tcp(8080, "sg-0123"));
    d.allow_cidr = "198.51.100.0/24".into();
    let p = plan(&d, &o).expect("plan");
    let rules: Vec<&Step> = p
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s,
                Step::AuthorizeIngress { .. } | Step::RevokeIngress { .. }
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            &authorize(GroupKind::Gateway, Ingress::tcp(8080, "198.51.100.0/24")),
            &revoke(GroupKind::Gateway, Ingress::tcp(8080, "203.0.113.0/24")),
            &revoke(GroupKind::Gateway, Ingress::tcp(22, "0.0.0.0/0")),
            &revoke(GroupKind::Gateway, Ingress::tcp(8080, "::/0")),
            &revoke(GroupKind::Private, Ingress::tcp(8080, "sg-0123")),
        ]
    );
}

#[test]
fn ssh_opens_only_when_asked() {
    let mut d = desired();
    let o = complete(&d);
    d.ssh_cidr = Some("192.0.2.7/32".into());
    let p = plan(&d, &o).expect("plan");
    assert_eq!(
        p.steps,
        vec![
            authorize(GroupKind::Gateway, Ingress::tcp(22, "192.0.2.7/32")),
            authorize(GroupKind::Private, Ingress::tcp(22, "192.0.2.7/32")),
        ]
    );
}

#[test]
fn a_new_artifact_or_receive_limit_is_applied() {
    let d = desired();
    let o = complete(&d);
    let mut d2 = d.clone();
    d2.max_receives = 3;
    d2.artifact.sha256 = Some("cd".repeat(32));
    let p = plan(&d2, &o).expect("plan");
    assert_eq!(
        p.steps[0],
        Step::SetRedrive {
            name: "airq-prod-requests".into(),
            dead_letter: "airq-prod-requests-dlq".into(),
            max_receives: 3
        }
    );
    let updated: Vec<Role> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::UpdateLaunchTemplate { spec, reason } => {
                assert_eq!(reason, "launch settings changed");
                Some(spec.role)
            }
            _ => None,
        })
        .collect();
    assert_eq!(updated, Role::ALL.to_vec());
    // Running instances are not replaced.
    assert!(!p
        .steps
        .iter()
        .any(|s| matches!(s, Step::Terminate { .. } | Step::Launch { .. })));
}

#[test]
fn the_template_ami_sticks_until_asked_and_a_newer_one_is_noted() {
    let d = desired();
    let mut o = complete(&d);
    o.latest_ami = Some("ami-newer".into());
    let p = plan(&d, &o).expect("plan");
    assert!(p.is_empty(), "{p}");
    assert!(
        p.notes.iter().any(|n| n.contains("--ami ami-newer")),
        "{:?}",
        p.notes
    );
    let mut d2 = d.clone();
    d2.launch.ami = Some("ami-newer".into());
    let p = plan(&d2, &o).expect("plan");
    assert!(p
        .steps
        .iter()
        .all(|s| matches!(s, Step::UpdateLaunchTemplate { reason, .. } if reason.contains("ami-latest -> ami-newer"))));
}

#[test]
fn no_ami_anywhere_is_an_error() {
    let mut o = fresh();
    o.latest_ami = None;
    assert_eq!(plan(&desired(), &o), Err(PlanError::NoAmi));
}

#[test]
fn hash_covers_every_setting() {
    let d = desired();
    let spec = launch_specs(&d, &fresh()).expect("specs").remove(0);
    let base = spec.hash();
    let variants = [
        LaunchSpec {
            image_id: "ami-x".into(),
            ..spec.clone()
        },
        LaunchSpec {
            instance_type: "t3.large".into(),
            ..spec.clone()
        },
        LaunchSpec {
            instance_profile: None,
            ..spec.clone()
        },
        LaunchSpec {
            key_name: Some("k".into()),
            ..spec.clone()
        },
        LaunchSpec {
            subnet: Some("subnet-1".into()),
            ..spec.clone()
        },
        LaunchSpec {
            group_id: Some("sg-other".into()),
            ..spec.clone()
        },
        LaunchSpec {
            user_data: format!("{}#", spec.user_data),
            ..spec.clone()
        },
    ];
    for v in variants {
        assert_ne!(v.hash(), base);
    }
    assert_eq!(spec_hash_of(&spec.description()), Some(base));
}

#[test]
fn a_table_still_being_deleted_stops_the_plan() {
    let d = desired();
    let mut o = complete(&d);
    if let Some(t) = o.table.as_mut() {
        t.deleting = true;
        t.active = false;
    }
    let err = plan(&d, &o).expect_err("deleting");
    assert_eq!(
        err,
        PlanError::StillDeleting("the table airq-prod-readings".into())
    );
    assert!(err.to_string().contains("run the command again"), "{err}");
}

mod api_keys;
mod metrics;
mod results;
