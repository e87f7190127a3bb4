//! The worker fleet as EC2 instances launched from the stack's worker launch template.

use std::sync::Arc;

use airq_common::queue::{JobQueue, QueueDepth};
use async_trait::async_trait;

use super::{ec2, Aws};
use crate::error::DeployError;
use crate::fleet::{Fleet, Member};
use crate::stack::Role;

pub struct Ec2Fleet {
    aws: Aws,
    image: Option<String>,
    requests: Arc<dyn JobQueue>,
}

impl Ec2Fleet {
    /// The fleet of a stack that `up` has made (its worker launch template and request queue must exist).
    pub async fn open(aws: Aws) -> Result<Self, DeployError> {
        let templates = ec2::find_templates(&aws).await?;
        let Some(template) = templates.get(&Role::Worker) else {
            return Err(DeployError::Invalid(format!(
                "stack {} has no worker launch template; run `airq-deploy up` first",
                aws.stack
            )));
        };
        let image = template.image_id.clone();
        let requests = aws.request_queue().await?;
        Ok(Ec2Fleet {
            aws,
            image,
            requests,
        })
    }
}

#[async_trait]
impl Fleet for Ec2Fleet {
    async fn workers(&self) -> Result<Vec<Member>, DeployError> {
        // The template is read each time: an `up` may have made a new version while `autoscale` runs.
        let (instances, templates) =
            tokio::try_join!(ec2::instances(&self.aws), ec2::find_templates(&self.aws))?;
        let current = templates
            .get(&Role::Worker)
            .and_then(|t| t.spec_hash.clone());
        Ok(instances
            .into_iter()
            .filter(|i| i.role == Role::Worker && i.is_live())
            .map(|i| Member {
                stale: current.is_some() && i.spec != current,
                id: i.id,
                launched_ms: i.launched.saturating_mul(1000),
                state: i.state,
            })
            .collect())
    }

    async fn launch(&self, count: u32) -> Result<Vec<String>, DeployError> {
        ec2::launch(&self.aws, Role::Worker, count, self.image.as_deref()).await
    }

    async fn terminate(&self, ids: &[String]) -> Result<(), DeployError> {
        ec2::terminate(&self.aws, ids).await
    }

    async fn depth(&self) -> Result<QueueDepth, DeployError> {
        Ok(self.requests.depth().await?)
    }

    fn describe(&self) -> String {
        format!(
            "EC2 workers of stack {} in {}",
            self.aws.stack, self.aws.region
        )
    }
}
