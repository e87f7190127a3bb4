//! `down` on AWS: lists what the stack has, asks the operator to confirm by typing the stack's name (unless
//! `--yes`), and removes it.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde_json::json;

use super::write_err;
use crate::aws::{self, Aws};
use crate::error::DeployError;

pub(super) async fn down(
    aws: &Aws,
    delete_data: bool,
    yes: bool,
    wait: Duration,
    json_out: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), DeployError> {
    let inventory = Box::pin(aws::down::inventory(aws, delete_data)).await?;
    if !json_out {
        write!(out, "{inventory}").map_err(write_err)?;
    }
    if inventory.is_empty() {
        if json_out {
            say!(out, "{}", json!({ "removed": inventory }))?;
        }
        return Ok(());
    }
    if !yes {
        confirm(aws, out)?;
    }
    Box::pin(aws::down::down(aws, &inventory, wait)).await?;
    if json_out {
        say!(out, "{}", json!({ "removed": inventory }))
    } else {
        say!(out, "stack {} removed", aws.stack)
    }
}

/// Asks for the stack's name on the terminal; an error unless it is typed exactly.
fn confirm(aws: &Aws, out: &mut (dyn Write + Send)) -> Result<(), DeployError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(DeployError::Invalid(
            "down asks for confirmation and standard input is not a terminal; pass --yes".into(),
        ));
    }
    write!(
        out,
        "type the stack name ({}) to remove all of the above: ",
        aws.stack
    )
    .map_err(write_err)?;
    out.flush().map_err(write_err)?;
    let mut answer = String::new();
    stdin.read_line(&mut answer).map_err(|e| DeployError::Io {
        what: "reading the confirmation".into(),
        source: e,
    })?;
    if answer.trim() != aws.stack.as_str() {
        return Err(DeployError::Invalid(
            "not confirmed; nothing was removed".into(),
        ));
    }
    Ok(())
}
