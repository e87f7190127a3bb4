//! `--metrics-cidr`: the metrics port opened to that CIDR on both groups (every role serves metrics), the roles'
//! templates changed to serve it, and both undone when the flag is dropped.

use super::{authorize, complete, desired, revoke};
use crate::plan::{plan, Ingress, Step};
use crate::stack::GroupKind;

/// The rule steps of a plan.
fn rule_steps(steps: &[Step]) -> Vec<&Step> {
    steps
        .iter()
        .filter(|s| {
            matches!(
                s,
                Step::AuthorizeIngress { .. } | Step::RevokeIngress { .. }
            )
        })
        .collect()
}

#[test]
fn the_metrics_port_opens_only_when_asked_and_closes_when_dropped() {
    let plain = desired();
    let o = complete(&plain);
    assert!(
        plan(&plain, &o).expect("plan").is_empty(),
        "no flag, nothing changes"
    );

    let mut with = plain.clone();
    with.metrics_cidr = Some("192.0.2.0/28".into());
    with.roles.metrics = true;
    let p = plan(&with, &o).expect("plan");
    let rule = Ingress::tcp(9100, "192.0.2.0/28");
    assert_eq!(
        rule_steps(&p.steps),
        [
            &authorize(GroupKind::Gateway, rule.clone()),
            &authorize(GroupKind::Private, rule.clone()),
        ]
    );
    // Every role's template gets a new version: its unit now has --metrics-listen.
    let templates = p
        .steps
        .iter()
        .filter(|s| matches!(s, Step::UpdateLaunchTemplate { .. }))
        .count();
    assert_eq!(templates, 3, "{p}");

    // Applied, the same flag plans nothing; dropped, the rule goes and the templates come back.
    let mut o_with = complete(&with);
    for group in o_with.groups.values_mut() {
        group.ingress.push(rule.clone());
    }
    assert!(plan(&with, &o_with).expect("plan").is_empty());
    let back = plan(&plain, &o_with).expect("plan");
    assert_eq!(
        rule_steps(&back.steps),
        [
            &revoke(GroupKind::Gateway, rule.clone()),
            &revoke(GroupKind::Private, rule),
        ]
    );
    let updates = back
        .steps
        .iter()
        .filter(|s| matches!(s, Step::UpdateLaunchTemplate { .. }))
        .count();
    assert_eq!(updates, 3, "{back}");
}
