//! What `status` reports, for either provider: instances per role and state, gateway URLs, whether the gateways
//! need API keys (from their tags), the request queue's depth, the table's size, and (on AWS) the result store.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::api_keys::ApiMode;

/// One instance or worker process.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub id: String,
    pub role: String,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// Gateways: who may use it, as launched; `None` for a gateway launched before `airq-deploy` tagged that.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiMode>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Depth {
    pub visible: u64,
    pub in_flight: u64,
    pub dead_lettered: Option<u64>,
}

/// The result store of a stack on AWS: where queued queries' answers wait to be fetched.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Results {
    /// The table of job records, if it exists.
    pub table: Option<String>,
    /// Its items (DynamoDB's ItemCount, refreshed about every six hours).
    pub table_items: Option<u64>,
    /// The bucket of answer parts, if it exists.
    pub bucket: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub stack: String,
    pub provider: String,
    /// role -> state -> count.
    pub counts: BTreeMap<String, BTreeMap<String, u32>>,
    pub nodes: Vec<Node>,
    pub gateway_urls: Vec<String>,
    /// `None` when the queue does not exist.
    pub queue: Option<Depth>,
    /// Items in the table (`None` when it does not exist).
    pub table_items: Option<u64>,
    /// How exact `table_items` is.
    pub table_items_note: String,
    /// The result store (AWS only: the local provider's workers use the store's own file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Results>,
}

impl Status {
    pub fn new(stack: &str, provider: &str, nodes: Vec<Node>) -> Self {
        let mut counts: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
        for n in &nodes {
            *counts
                .entry(n.role.clone())
                .or_default()
                .entry(n.state.clone())
                .or_default() += 1;
        }
        Status {
            stack: stack.to_string(),
            provider: provider.to_string(),
            counts,
            nodes,
            gateway_urls: Vec::new(),
            queue: None,
            table_items: None,
            table_items_note: String::new(),
            results: None,
        }
    }
}

impl Status {
    /// One line on who may use the live gateways: their common mode, or that they differ (after a change of
    /// keys, until the old gateways are replaced). `None` without live gateways.
    fn gateway_api(&self) -> Option<String> {
        let modes: BTreeSet<Option<&ApiMode>> = self
            .nodes
            .iter()
            .filter(|n| n.role == "gateway" && matches!(n.state.as_str(), "pending" | "running"))
            .map(|n| n.api.as_ref())
            .collect();
        let mut modes = modes.into_iter();
        match (modes.next(), modes.next()) {
            (None, _) => None,
            (Some(Some(mode)), None) => Some(mode.to_string()),
            (Some(None), None) => Some("unknown (launched before airq-deploy recorded it)".into()),
            (Some(_), Some(_)) => Some(
                "differs between gateways (see each above): replace the older ones (docs/operations.md)".into(),
            ),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "stack {} ({})", self.stack, self.provider)?;
        if self.counts.is_empty() {
            writeln!(f, "  instances: none")?;
        }
        for (role, states) in &self.counts {
            let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
            writeln!(f, "  {role}: {}", states.join(", "))?;
        }
        for n in &self.nodes {
            write!(f, "    {} {} {}", n.role, n.id, n.state)?;
            if let Some(a) = &n.address {
                write!(f, " {a}")?;
            }
            if let Some(a) = &n.artifact {
                write!(f, " artifact {a}")?;
            }
            if let Some(a) = &n.api {
                write!(f, ", {a}")?;
            }
            writeln!(f)?;
        }
        for url in &self.gateway_urls {
            writeln!(f, "  gateway: {url}")?;
        }
        if let Some(api) = self.gateway_api() {
            writeln!(f, "  gateway API: {api}")?;
        }
        match &self.queue {
            Some(d) => writeln!(
                f,
                "  request queue: {} visible, {} in flight, {} dead-lettered",
                d.visible,
                d.in_flight,
                d.dead_lettered.map_or("?".to_string(), |n| n.to_string())
            )?,
            None => writeln!(f, "  request queue: does not exist")?,
        }
        match self.table_items {
            Some(n) => writeln!(f, "  table: {n} items ({})", self.table_items_note)?,
            None => writeln!(f, "  table: does not exist")?,
        }
        if let Some(r) = &self.results {
            match (&r.table, r.table_items) {
                (Some(t), Some(n)) => writeln!(f, "  results table: {t}, {n} items")?,
                (Some(t), None) => writeln!(f, "  results table: {t}")?,
                (None, _) => writeln!(f, "  results table: does not exist")?,
            }
            match &r.bucket {
                Some(b) => writeln!(f, "  results bucket: {b}")?,
                None => writeln!(f, "  results bucket: does not exist")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(id: &str, state: &str, api: Option<ApiMode>) -> Node {
        Node {
            id: id.into(),
            role: "gateway".into(),
            state: state.into(),
            address: None,
            artifact: None,
            api,
        }
    }

    #[test]
    fn the_gateway_api_line_says_what_live_gateways_have() {
        let keys = |n| ApiMode::Keys {
            keys: n,
            fingerprint: "0a1b2c3d".into(),
        };
        let line = |nodes| Status::new("prod", "aws", nodes).to_string();
        let one = line(vec![
            gateway("i-1", "running", Some(keys(3))),
            gateway("i-0", "terminated", Some(ApiMode::Open)),
        ]);
        assert!(
            one.contains("  gateway API: API keys required (3 keys, file 0a1b2c3d)\n"),
            "{one}"
        );
        assert!(one.contains("i-1 running, API keys required"), "{one}");
        let open = line(vec![gateway("i-1", "pending", Some(ApiMode::Open))]);
        assert!(open.contains("gateway API: API open"), "{open}");
        let mixed = line(vec![
            gateway("i-1", "running", Some(keys(3))),
            gateway("i-2", "running", Some(keys(2))),
        ]);
        assert!(
            mixed.contains("gateway API: differs between gateways"),
            "{mixed}"
        );
        let old = line(vec![gateway("i-1", "running", None)]);
        assert!(old.contains("gateway API: unknown"), "{old}");
        assert!(!line(Vec::new()).contains("gateway API"));
    }
}
