//! The query mix: request bodies from a JSON-lines file, or generated over the data's time span and countries
//! with a chosen selectivity.

use std::path::Path;

use airq_common::time::format_rfc3339;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, thiserror::Error)]
pub enum MixError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} line {line}: not a JSON object: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("{0} holds no queries")]
    Empty(String),
}

/// A fixed list of legacy JSON query bodies, used round-robin.
#[derive(Debug, Clone)]
pub struct QueryMix {
    bodies: Vec<String>,
}

/// What the built-in generator draws from.
#[derive(Debug, Clone)]
pub struct GeneratorSpec {
    /// First and last second of the data.
    pub span: (i64, i64),
    /// Length of each query's time window, in seconds.
    pub window_secs: i64,
    /// Countries to pick from; a query has no country when this is empty.
    pub countries: Vec<String>,
    pub count: usize,
    pub seed: u64,
}

impl QueryMix {
    pub fn from_file(path: &Path) -> Result<Self, MixError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| MixError::Read {
            path: name.clone(),
            source,
        })?;
        let mut bodies = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(v) if v.is_object() => bodies.push(line.to_string()),
                Ok(_) => {
                    return Err(MixError::Line {
                        path: name,
                        line: i + 1,
                        reason: "not an object".into(),
                    })
                }
                Err(e) => {
                    return Err(MixError::Line {
                        path: name,
                        line: i + 1,
                        reason: e.to_string(),
                    })
                }
            }
        }
        if bodies.is_empty() {
            return Err(MixError::Empty(name));
        }
        Ok(QueryMix { bodies })
    }

    /// Windows of `window_secs` at random places in the span, each with a random country from the list.
    pub fn generate(spec: &GeneratorSpec) -> Self {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let (first, last) = spec.span;
        let latest_start = (last - spec.window_secs).max(first);
        let bodies = (0..spec.count.max(1))
            .map(|_| {
                let start = rng.gen_range(first..=latest_start);
                let end = start + spec.window_secs;
                let mut body = serde_json::json!({
                    "startDate": format_rfc3339(start),
                    "endDate": format_rfc3339(end),
                });
                if !spec.countries.is_empty() {
                    let country = &spec.countries[rng.gen_range(0..spec.countries.len())];
                    body["country"] = serde_json::Value::String(country.clone());
                }
                body.to_string()
            })
            .collect();
        QueryMix { bodies }
    }

    pub fn single(body: String) -> Self {
        QueryMix { bodies: vec![body] }
    }

    pub fn body(&self, i: u64) -> &str {
        &self.bodies[(i % self.bodies.len() as u64) as usize]
    }

    pub fn len(&self) -> usize {
        self.bodies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bodies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_queries_are_valid_and_deterministic() {
        let spec = GeneratorSpec {
            span: (1_555_416_000, 1_555_416_000 + 86_400),
            window_secs: 3600,
            countries: vec!["DE".into(), "NL".into()],
            count: 20,
            seed: 7,
        };
        let a = QueryMix::generate(&spec);
        let b = QueryMix::generate(&spec);
        assert_eq!(a.bodies, b.bodies);
        for i in 0..20 {
            let q = airq_common::Query::from_json(a.body(i).as_bytes()).expect("valid query");
            assert_eq!(q.end - q.start, 3600);
            assert!(q.start >= spec.span.0 && q.end <= spec.span.1);
            assert!(matches!(q.country.as_deref(), Some("DE" | "NL")));
        }
    }

    #[test]
    fn files_are_checked_line_by_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("good.jsonl");
        std::fs::write(
            &good,
            "# comment\n{\"startDate\": \"2019-04-16\", \"endDate\": \"2019-04-17\"}\n\n",
        )
        .expect("write");
        assert_eq!(QueryMix::from_file(&good).expect("mix").len(), 1);
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, "{}\n[1]\n").expect("write");
        assert!(matches!(
            QueryMix::from_file(&bad),
            Err(MixError::Line { line: 2, .. })
        ));
    }
}
