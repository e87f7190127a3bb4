//! `down`: removes everything of a stack, found by its tags and names: instances (waiting until they are gone,
//! so the security group can go), launch templates, the security group, queues (request, dead-letter, and any
//! reply queues gateways left), the artifact bucket, the result store (its table and bucket: they only hold
//! answers of queued queries, which expire within days anyway), and the readings table only when asked.

use std::time::Duration;

use aws_sdk_ec2::types::InstanceStateName;
use serde::Serialize;

use super::{artifact, bucket, ec2, queues, results, table, Aws};
use crate::error::DeployError;

/// A resource known by id, shown with its name.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Named {
    pub id: String,
    pub name: String,
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.id)
    }
}

/// What `down` would remove, or removed.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Inventory {
    pub instances: Vec<String>,
    pub launch_templates: Vec<Named>,
    pub security_groups: Vec<Named>,
    pub queues: Vec<String>,
    pub bucket: Option<String>,
    /// The result store's bucket and table.
    pub results_bucket: Option<String>,
    pub results_table: Option<String>,
    pub table: Option<String>,
    /// The table exists but is kept (no `--delete-data`).
    pub table_kept: bool,
}

impl Inventory {
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
            && self.launch_templates.is_empty()
            && self.security_groups.is_empty()
            && self.queues.is_empty()
            && self.bucket.is_none()
            && self.results_bucket.is_none()
            && self.results_table.is_none()
            && self.table.is_none()
    }
}

impl std::fmt::Display for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            writeln!(f, "nothing to remove")?;
        }
        for i in &self.instances {
            writeln!(f, "- instance {i}")?;
        }
        for t in &self.launch_templates {
            writeln!(f, "- launch template {t}")?;
        }
        for g in &self.security_groups {
            writeln!(f, "- security group {g}")?;
        }
        for q in &self.queues {
            writeln!(f, "- sqs queue {}", queues::name_of(q))?;
        }
        if let Some(b) = &self.bucket {
            writeln!(f, "- s3 bucket {b} and its objects")?;
        }
        if let Some(b) = &self.results_bucket {
            writeln!(f, "- s3 bucket {b} and the answers of queued queries in it")?;
        }
        if let Some(t) = &self.results_table {
            writeln!(
                f,
                "- dynamodb table {t} and the queued queries' records in it"
            )?;
        }
        if let Some(t) = &self.table {
            writeln!(f, "- dynamodb table {t} and every reading in it")?;
        }
        if self.table_kept {
            writeln!(
                f,
                "  kept: the dynamodb table and its readings (pass --delete-data to remove them)"
            )?;
        }
        Ok(())
    }
}

/// What belongs to the stack.
pub async fn inventory(aws: &Aws, delete_data: bool) -> Result<Inventory, DeployError> {
    let results_table = aws.stack.results_table();
    let results_bucket = results::bucket_name(aws).await?;
    let (
        instances,
        templates,
        group,
        queue_urls,
        bucket,
        table,
        has_results_table,
        has_results_bucket,
    ) = tokio::try_join!(
        ec2::instances(aws),
        ec2::find_templates(aws),
        ec2::find_groups(aws),
        queues::list_stack_queues(aws),
        artifact::find_bucket(aws),
        table::find(aws),
        table::find_table(aws, &results_table),
        bucket::exists(aws, &results_bucket),
    )?;
    // The table is the stack's by its name (an `up` stopped between creating and tagging it leaves it
    // untagged); it is removed only with --delete-data.
    let table = table.map(|_| aws.stack.table());
    Ok(Inventory {
        instances: instances
            .into_iter()
            .filter(|i| i.state != "shutting-down")
            .map(|i| i.id)
            .collect(),
        launch_templates: templates
            .iter()
            .map(|(role, t)| Named {
                id: t.id.clone(),
                name: aws.stack.launch_template(*role),
            })
            .collect(),
        security_groups: group
            .into_iter()
            .map(|(kind, g)| Named {
                id: g.id,
                name: aws.stack.security_group(kind),
            })
            .collect(),
        queues: queue_urls,
        bucket,
        // The result store's table and bucket are the stack's by their names (the bucket's is this account's
        // own, and HeadBucket named the account as owner), like the readings table: a role that started
        // before `up` made them may have made them, untagged.
        results_bucket: has_results_bucket.then_some(results_bucket),
        results_table: has_results_table.map(|_| results_table),
        table_kept: table.is_some() && !delete_data,
        table: table.filter(|_| delete_data),
    })
}

/// Removes what `inventory` found, in dependency order. `wait` bounds the wait for instances to terminate.
pub async fn down(aws: &Aws, inventory: &Inventory, wait: Duration) -> Result<(), DeployError> {
    ec2::terminate(aws, &inventory.instances).await?;
    for template in &inventory.launch_templates {
        ec2::delete_template(aws, &template.id).await?;
    }
    for url in &inventory.queues {
        queues::delete(aws, url).await?;
    }
    if let Some(bucket) = &inventory.bucket {
        artifact::delete_bucket(aws, bucket).await?;
    }
    if inventory.table.is_some() {
        table::delete(aws).await?;
    }
    // The group can go once no instance uses it, and the result store once no gateway or worker writes to it.
    ec2::wait_for(
        aws,
        &inventory.instances,
        InstanceStateName::Terminated,
        wait,
    )
    .await?;
    if let Some(bucket) = &inventory.results_bucket {
        bucket::delete(aws, bucket).await?;
    }
    if let Some(name) = &inventory.results_table {
        table::delete_table(aws, name).await?;
    }
    for group in &inventory.security_groups {
        ec2::delete_group(aws, &group.id, wait).await?;
    }
    Ok(())
}
