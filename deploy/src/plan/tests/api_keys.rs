//! The gateways' API keys in the plan: the gateway template carries the hashes and the flag, the same keys plan
//! nothing, changed keys are a new gateway template version (and nothing else), and an open API is said.

use super::{complete, desired, keys};
use crate::api_keys::{GatewayAccess, KEYS_PATH};
use crate::plan::{launch_specs, plan, Step};
use crate::stack::Role;

#[test]
fn the_gateway_template_has_the_hashes_and_the_flag() {
    let d = desired();
    let specs = launch_specs(&d, &complete(&d)).expect("specs");
    for spec in specs {
        let has_keys = spec
            .user_data
            .contains(&format!("bob sha256:{}", "01".repeat(32)));
        let has_flag = spec
            .user_data
            .contains(&format!("--api-keys {KEYS_PATH}\n"));
        let gateway = spec.role == Role::Gateway;
        assert_eq!(has_keys && has_flag, gateway, "{}", spec.user_data);
        assert_eq!(
            spec.api_tag.is_some_and(|t| t.starts_with("keys:2:")),
            gateway
        );
    }
}

#[test]
fn changed_keys_are_a_new_gateway_template_only() {
    let d = desired();
    let o = complete(&d);
    let mut rotated = d.clone();
    rotated.roles.api = keys(&["alice", "carol"]);
    let p = plan(&rotated, &o).expect("plan");
    assert_eq!(p.steps.len(), 1, "{p}");
    assert!(
        matches!(&p.steps[0], Step::UpdateLaunchTemplate { spec, .. } if spec.role == Role::Gateway),
        "{p}"
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("1 running gateway(s) keep their settings and API keys")),
        "{:?}",
        p.notes
    );
    // Going open is a change too, and the plan says what it means.
    let mut open = d.clone();
    open.roles.api = GatewayAccess::Open;
    let p = plan(&open, &o).expect("plan");
    assert_eq!(p.steps.len(), 1, "{p}");
    assert!(
        p.notes.iter().any(|n| n.contains("API is open")),
        "{:?}",
        p.notes
    );
    assert!(!plan(&d, &o)
        .expect("plan")
        .notes
        .iter()
        .any(|n| n.contains("API is open")));
}
