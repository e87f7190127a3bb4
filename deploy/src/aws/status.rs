//! `status` on AWS.

use super::{bucket, ec2, results, table, Aws};
use crate::api_keys::ApiMode;
use crate::error::DeployError;
use crate::stack::Role;
use crate::status::{Depth, Node, Results, Status};

pub async fn status(aws: &Aws) -> Result<Status, DeployError> {
    let results_table = aws.stack.results_table();
    let results_bucket = results::bucket_name(aws).await?;
    let (instances, table, mut group, found_results_table, has_results_bucket) = tokio::try_join!(
        ec2::instances(aws),
        table::find(aws),
        ec2::find_groups(aws),
        table::find_table(aws, &results_table),
        bucket::exists(aws, &results_bucket),
    )?;
    // The gateway port is the one the security group opens (22 is SSH).
    let port = group
        .remove(&crate::stack::GroupKind::Gateway)
        .and_then(|g| {
            g.ingress
                .into_iter()
                .find(|r| r.from_port != 22)
                .map(|r| r.from_port)
        })
        .unwrap_or(8080);
    let nodes = instances
        .iter()
        .map(|i| Node {
            id: i.id.clone(),
            role: i.role.to_string(),
            state: i.state.clone(),
            address: i.public_dns.clone().or_else(|| i.public_ip.clone()),
            artifact: i.artifact.clone(),
            api: i.api.as_deref().and_then(ApiMode::from_tag),
        })
        .collect();
    let mut status = Status::new(aws.stack.as_str(), &format!("aws {}", aws.region), nodes);
    status.gateway_urls = instances
        .iter()
        .filter(|i| i.role == Role::Gateway && i.state == "running")
        .filter_map(|i| i.public_dns.clone().or_else(|| i.public_ip.clone()))
        .map(|host| format!("http://{host}:{port}"))
        .collect();
    status.queue = match aws.request_queue().await {
        Ok(q) => {
            let d = q.depth().await?;
            Some(Depth {
                visible: d.visible,
                in_flight: d.in_flight,
                dead_lettered: d.dead_lettered,
            })
        }
        Err(DeployError::Queue(airq_common::queue::QueueError::NoSuchQueue(_))) => None,
        Err(e) => return Err(e),
    };
    status.table_items = table
        .and_then(|t| t.state.item_count)
        .map(|n| n.max(0) as u64);
    status.table_items_note = "DynamoDB's ItemCount, refreshed about every six hours".into();
    status.results = Some(Results {
        table_items: found_results_table
            .as_ref()
            .and_then(|t| t.state.item_count)
            .map(|n| n.max(0) as u64),
        table: found_results_table.map(|_| results_table),
        bucket: has_results_bucket.then_some(results_bucket),
    });
    Ok(status)
}
