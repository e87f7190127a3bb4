//! `status` on this machine: the worker processes, the request queue's depth and the store's exact size, as
//! `aws::status` reports a stack on AWS.

use super::LocalFleet;
use crate::error::DeployError;
use crate::fleet::Fleet as _;
use crate::stack::StackName;
use crate::status::{Depth, Node, Status};

pub async fn status(stack: &StackName, fleet: &LocalFleet) -> Result<Status, DeployError> {
    let nodes = fleet
        .all_members()?
        .into_iter()
        .map(|m| Node {
            id: m.id,
            role: "worker".into(),
            state: m.state,
            address: None,
            artifact: None,
            api: None,
        })
        .collect();
    let mut status = Status::new(
        stack.as_str(),
        &format!("local {}", fleet.state_dir().display()),
        nodes,
    );
    let depth = fleet.depth().await?;
    status.queue = Some(Depth {
        visible: depth.visible,
        in_flight: depth.in_flight,
        dead_lettered: depth.dead_lettered,
    });
    let store = airq_common::open_store(fleet.store()).await?;
    status.table_items = Some(store.count().await?);
    status.table_items_note = format!("exact, {}", store.describe());
    Ok(status)
}
