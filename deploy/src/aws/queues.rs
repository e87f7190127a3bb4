//! The stack's SQS queues: the request queue and its dead-letter queue (created, tagged and given their redrive
//! policy here, with the naming and policy definitions of `airq_common::queue::sqs`), and the reply queues that
//! gateways create for themselves (found by prefix on `down`).

use std::collections::HashMap;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::QueueAttributeName;

use super::Aws;
use crate::error::{fail, DeployError};
use crate::plan::QueueState;
use crate::stack::TAG_STACK;

fn is_missing(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist")
    )
}

/// A queue as found, with its ARN.
pub struct Found {
    pub state: QueueState,
    pub arn: String,
}

async fn url(aws: &Aws, name: &str) -> Result<Option<String>, DeployError> {
    match aws.sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url().map(str::to_string)),
        Err(e) if is_missing(e.code()) => Ok(None),
        Err(e) => Err(fail(
            "GetQueueUrl",
            "sqs:GetQueueUrl",
            format!("queue {name}"),
        )(e)),
    }
}

/// The `maxReceiveCount` of a redrive policy.
pub fn max_receives_of(redrive_policy: &str) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_str(redrive_policy).ok()?;
    match &v["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub async fn find(aws: &Aws, name: &str) -> Result<Option<Found>, DeployError> {
    let Some(url) = url(aws, name).await? else {
        return Ok(None);
    };
    let attrs = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await;
    let attrs = match attrs {
        Ok(a) => a,
        Err(e) if is_missing(e.code()) => return Ok(None),
        Err(e) => {
            return Err(fail(
                "GetQueueAttributes",
                "sqs:GetQueueAttributes",
                format!("queue {name}"),
            )(e))
        }
    };
    let get = |k: QueueAttributeName| attrs.attributes().and_then(|a| a.get(&k)).cloned();
    let tags = aws
        .sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .map_err(fail(
            "ListQueueTags",
            "sqs:ListQueueTags",
            format!("queue {name}"),
        ))?;
    let tagged = tags
        .tags()
        .and_then(|t| t.get(TAG_STACK))
        .is_some_and(|v| v == aws.stack.as_str());
    Ok(Some(Found {
        state: QueueState {
            url,
            max_receives: get(QueueAttributeName::RedrivePolicy)
                .as_deref()
                .and_then(max_receives_of),
            tagged,
        },
        arn: get(QueueAttributeName::QueueArn).unwrap_or_default(),
    }))
}

fn stack_tags(aws: &Aws) -> HashMap<String, String> {
    aws.stack.tags().into_iter().collect()
}

/// Creates a queue with the stack tag; with `dead_letter`, the redrive policy to that (existing) queue.
pub async fn create(
    aws: &Aws,
    name: &str,
    dead_letter: Option<(&str, u32)>,
) -> Result<(), DeployError> {
    let mut request = aws
        .sqs
        .create_queue()
        .queue_name(name)
        .set_tags(Some(stack_tags(aws)));
    if let Some((dlq, max_receives)) = dead_letter {
        let arn = dead_letter_arn(aws, dlq).await?;
        request = request.attributes(
            QueueAttributeName::RedrivePolicy,
            airq_common::queue::sqs::redrive_policy(&arn, max_receives),
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        // SQS refuses a queue of the name of one deleted less than 60 s ago.
        Err(e)
            if matches!(
                e.code(),
                Some("AWS.SimpleQueueService.QueueDeletedRecently" | "QueueDeletedRecently")
            ) =>
        {
            Err(DeployError::Aws {
                operation: "CreateQueue",
                resource: format!("queue {name}"),
                code: e.code().map(str::to_string),
                message: "a queue of this name was deleted less than 60 seconds ago (by an earlier down) and \
                          SQS does not allow its name again before then; wait a minute and run the command again"
                    .into(),
                transient: false,
            })
        }
        Err(e) => Err(fail("CreateQueue", "sqs:CreateQueue", format!("queue {name}"))(e)),
    }
}

async fn dead_letter_arn(aws: &Aws, dlq: &str) -> Result<String, DeployError> {
    find(aws, dlq)
        .await?
        .map(|f| f.arn)
        .ok_or_else(|| DeployError::Unexpected {
            resource: format!("queue {dlq}"),
            message: "the dead-letter queue does not exist".into(),
        })
}

/// Sets the redrive policy of an existing queue.
pub async fn set_redrive(
    aws: &Aws,
    name: &str,
    dlq: &str,
    max_receives: u32,
) -> Result<(), DeployError> {
    let arn = dead_letter_arn(aws, dlq).await?;
    let url = url(aws, name)
        .await?
        .ok_or_else(|| DeployError::Unexpected {
            resource: format!("queue {name}"),
            message: "the queue does not exist".into(),
        })?;
    aws.sqs
        .set_queue_attributes()
        .queue_url(url)
        .attributes(
            QueueAttributeName::RedrivePolicy,
            airq_common::queue::sqs::redrive_policy(&arn, max_receives),
        )
        .send()
        .await
        .map_err(fail(
            "SetQueueAttributes",
            "sqs:SetQueueAttributes",
            format!("queue {name}"),
        ))?;
    Ok(())
}

/// Adds the stack tag to an existing queue.
pub async fn tag(aws: &Aws, name: &str) -> Result<(), DeployError> {
    let url = url(aws, name)
        .await?
        .ok_or_else(|| DeployError::Unexpected {
            resource: format!("queue {name}"),
            message: "the queue does not exist".into(),
        })?;
    aws.sqs
        .tag_queue()
        .queue_url(url)
        .set_tags(Some(stack_tags(aws)))
        .send()
        .await
        .map_err(fail("TagQueue", "sqs:TagQueue", format!("queue {name}")))?;
    Ok(())
}

/// Every queue URL whose name starts with the stack's prefix (request, dead-letter and reply queues).
pub async fn list_stack_queues(aws: &Aws) -> Result<Vec<String>, DeployError> {
    let prefix = aws.stack.prefix();
    let mut urls = Vec::new();
    let mut token = None;
    loop {
        let out = aws
            .sqs
            .list_queues()
            .queue_name_prefix(&prefix)
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(fail(
                "ListQueues",
                "sqs:ListQueues",
                format!("queues {prefix}*"),
            ))?;
        urls.extend(out.queue_urls().iter().cloned());
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(urls);
        }
    }
}

/// The queue name at the end of a queue URL.
pub fn name_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// Deletes a queue by URL; a queue already gone is not an error.
pub async fn delete(aws: &Aws, url: &str) -> Result<(), DeployError> {
    match aws.sqs.delete_queue().queue_url(url).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_missing(e.code()) => Ok(()),
        Err(e) => Err(fail(
            "DeleteQueue",
            "sqs:DeleteQueue",
            format!("queue {}", name_of(url)),
        )(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_receive_limits() {
        assert_eq!(
            max_receives_of(r#"{"deadLetterTargetArn":"a","maxReceiveCount":"5"}"#),
            Some(5)
        );
        assert_eq!(
            max_receives_of(r#"{"deadLetterTargetArn":"a","maxReceiveCount":3}"#),
            Some(3)
        );
        assert_eq!(max_receives_of("not json"), None);
        let ours = airq_common::queue::sqs::redrive_policy("arn:aws:sqs:r:1:q", 7);
        assert_eq!(max_receives_of(&ours), Some(7));
    }

    #[test]
    fn names_from_urls() {
        assert_eq!(
            name_of("https://sqs.eu-west-1.amazonaws.com/123/airq-prod-requests"),
            "airq-prod-requests"
        );
    }
}
