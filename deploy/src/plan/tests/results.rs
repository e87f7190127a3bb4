//! The result store's part of the plan: its table and bucket are created before the launch templates that name
//! them, and what an earlier run or a role left half-made is finished.

use super::{complete, desired, fresh};
use crate::plan::{plan, PlanError, Step};

#[test]
fn a_fresh_stack_gets_the_result_store_before_anything_that_uses_it() {
    let p = plan(&desired(), &fresh()).expect("plan");
    let table = Step::CreateResultsTable {
        name: "airq-prod-results".into(),
    };
    let bucket = Step::CreateResultsBucket {
        name: "airq-prod-results-00000000".into(),
    };
    let at = |step: &Step| p.steps.iter().position(|s| s == step);
    let first_template = p
        .steps
        .iter()
        .position(|s| matches!(s, Step::CreateLaunchTemplate(_)))
        .expect("templates");
    assert!(at(&table).is_some_and(|i| i < first_template), "{p}");
    assert!(at(&bucket).is_some_and(|i| i < first_template), "{p}");
    let text = p.to_string();
    assert!(
        text.contains("+ dynamodb table airq-prod-results (on-demand; key id;"),
        "{text}"
    );
    assert!(
        text.contains(
            "+ s3 bucket airq-prod-results-00000000 (private; answer parts under results/ expire after 2 days)"
        ),
        "{text}"
    );
}

#[test]
fn the_gateways_and_workers_user_data_name_the_result_store() {
    let d = desired();
    for spec in crate::plan::launch_specs(&d, &fresh()).expect("specs") {
        let url = "AIRQ_RESULTS=dynamodb://airq-prod-results?bucket=airq-prod-results-00000000";
        assert_eq!(
            spec.user_data.contains(url),
            spec.role != crate::stack::Role::Master,
            "{}",
            spec.role
        );
    }
}

#[test]
fn a_half_made_result_store_is_finished() {
    let d = desired();
    let mut o = complete(&d);
    // A role made the table and bucket itself (untagged, public access not blocked), and the TTL step of an
    // earlier up failed.
    if let Some(t) = o.results_table.as_mut() {
        t.tagged = false;
        t.ttl = Some(false);
    }
    if let Some(b) = o.results_bucket.as_mut() {
        b.tagged = false;
        b.private = false;
    }
    let p = plan(&d, &o).expect("plan");
    assert_eq!(
        p.steps,
        vec![
            Step::EnableResultsTtl {
                name: "airq-prod-results".into()
            },
            Step::TagTable {
                name: "airq-prod-results".into()
            },
            Step::ConfigureResultsBucket {
                name: "airq-prod-results-00000000".into(),
                missing: vec!["add the stack tag", "block public access"],
            },
        ]
    );
    assert!(
        p.to_string().contains(
            "~ s3 bucket airq-prod-results-00000000: add the stack tag, block public access"
        ),
        "{p}"
    );
    // A lifecycle rule that is not the current one (another expiry) is put again.
    let mut o = complete(&d);
    if let Some(b) = o.results_bucket.as_mut() {
        b.lifecycle = false;
    }
    let p = plan(&d, &o).expect("plan");
    assert_eq!(
        p.steps,
        vec![Step::ConfigureResultsBucket {
            name: "airq-prod-results-00000000".into(),
            missing: vec!["set the lifecycle rule"],
        }]
    );
}

#[test]
fn a_results_table_still_being_deleted_stops_the_plan() {
    let d = desired();
    let mut o = complete(&d);
    if let Some(t) = o.results_table.as_mut() {
        t.deleting = true;
        t.active = false;
    }
    assert_eq!(
        plan(&d, &o),
        Err(PlanError::StillDeleting(
            "the table airq-prod-results".into()
        ))
    );
}
