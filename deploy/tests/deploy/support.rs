//! Shared test plumbing: running airq-deploy commands in-process against the emulator, unique stack names, a
//! fault-injecting proxy in front of the emulator, and IAM set-up on a dedicated emulator.

use std::sync::{Arc, Mutex};

use airq_common::testing::emulator::Emulator;
use airq_deploy::cli::Cli;
use airq_deploy::error::DeployError;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};
use clap::Parser;

/// A stack name no other test uses (stack names are letters and digits only).
pub fn unique_stack(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// SDK configuration for an endpoint, with the given (or dummy) credentials, in us-east-1.
pub async fn config_for(endpoint: &str, key: Option<(&str, &str)>) -> SdkConfig {
    config_in(endpoint, key, "us-east-1").await
}

/// SDK configuration for an endpoint and region.
pub async fn config_in(endpoint: &str, key: Option<(&str, &str)>, region: &str) -> SdkConfig {
    let (id, secret) = key.unwrap_or(("testing", "testing"));
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(id, secret, None, None, "static"))
        .load()
        .await
}

pub async fn shared_config() -> SdkConfig {
    Emulator::shared().sdk_config().await
}

/// Runs `airq-deploy ARGS` in-process; returns the result and everything it printed.
pub async fn deploy(config: &SdkConfig, args: &[&str]) -> (Result<(), DeployError>, String) {
    let cli = Cli::try_parse_from(std::iter::once("airq-deploy").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("bad test arguments {args:?}: {e}"));
    let mut out = Vec::new();
    let result = airq_deploy::commands::run(cli, config, &mut out, std::future::pending()).await;
    (result, String::from_utf8_lossy(&out).into_owned())
}

/// Like [`deploy`], failing the test on an error.
pub async fn deploy_ok(config: &SdkConfig, args: &[&str]) -> String {
    let (result, out) = deploy(config, args).await;
    if let Err(e) = result {
        panic!("airq-deploy {args:?} failed: {e}\n{out}");
    }
    out
}

/// A stand-in package, shaped as `scripts/package` makes one (a .tar.gz of `bin/airq-*` and its `.sha256`
/// beside it), so `plan` and `up` accept it; its binaries are placeholders (the emulator's instances never boot,
/// so they are not run). The test process's id is in it, so each run uploads its own object.
pub fn artifact_file(dir: &std::path::Path) -> std::path::PathBuf {
    package_of(
        &dir.join("airq-test.tar.gz"),
        &airq_deploy::package::BINARIES,
    )
}

/// A .tar.gz at `path` holding the named files (placeholders) and its `.sha256` beside it.
pub fn package_of(path: &std::path::Path, files: &[&str]) -> std::path::PathBuf {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).expect("create artifact"),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let content = format!("airq test artifact {}", std::process::id());
    for name in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, name, content.as_bytes())
            .expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gzip");
    let (sha, _) = airq_deploy::aws::artifact::checksum(path).expect("checksum");
    std::fs::write(
        airq_deploy::package::checksum_path(path),
        format!("{sha}  {}\n", path.display()),
    )
    .expect("write .sha256");
    path.to_path_buf()
}

/// Writes a keys file of one key made now (`NAME sha256:HEX`, as `airq-gateway new-api-key` appends it) to
/// `path`; returns the key, which must never reach an instance.
pub fn write_keys_file(path: &std::path::Path, name: &str) -> String {
    let key = airq_common::api_keys::new_key();
    let text = format!(
        "# made by the test at run time\n{}\n",
        airq_common::api_keys::file_line(name, &key)
    );
    std::fs::write(path, text).expect("write keys file");
    key
}

/// The keys file the `plan`/`up` tests pass with `--api-keys`, and its key.
pub struct TestKeys {
    pub path: String,
    pub key: String,
}

/// One keys file per test process (so every `up` of a test sees the same keys and a second `up` is a no-op),
/// its key made at run time, under the target's directory for test files.
pub fn test_keys() -> &'static TestKeys {
    static KEYS: std::sync::OnceLock<TestKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("deploy-api-keys-{}", std::process::id()));
        let key = write_keys_file(&path, "tests");
        TestKeys {
            path: path.to_str().expect("utf8 path").to_string(),
            key,
        }
    })
}

/// The path of [`test_keys`].
pub fn keys_file() -> &'static str {
    &test_keys().path
}

/// A fault to inject: requests whose body contains every one of `needles` get this error response.
#[derive(Clone)]
pub struct Fault {
    pub needles: Vec<String>,
    pub status: u16,
    pub body: String,
}

/// An HTTP proxy in front of the emulator that answers chosen requests with an error, for AWS faults the
/// emulator cannot produce (a quota reached). Everything else goes to the emulator unchanged.
pub struct FaultProxy {
    pub endpoint: String,
    fault: Arc<Mutex<Option<Fault>>>,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        use axum::body::{Body, Bytes};
        use axum::http::{Request, Response};

        let fault: Arc<Mutex<Option<Fault>>> = Arc::new(Mutex::new(None));
        let client = reqwest::Client::new();
        let upstream = upstream.to_string();
        let f = fault.clone();
        let handler = move |req: Request<Body>| {
            let (client, upstream, fault) = (client.clone(), upstream.clone(), f.clone());
            async move {
                let (parts, body) = req.into_parts();
                let bytes: Bytes = axum::body::to_bytes(body, 64 << 20)
                    .await
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                let injected = fault
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
                    .filter(|f| f.needles.iter().all(|n| text.contains(n.as_str())));
                if let Some(f) = injected {
                    return Response::builder()
                        .status(f.status)
                        .header("content-type", "text/xml")
                        .body(Body::from(f.body))
                        .unwrap_or_default();
                }
                let url = format!(
                    "{upstream}{}",
                    parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/")
                );
                let mut forward = client
                    .request(parts.method.clone(), url)
                    .body(bytes.to_vec());
                for (name, value) in &parts.headers {
                    if name != "host" && name != "content-length" {
                        forward = forward.header(name, value);
                    }
                }
                match forward.send().await {
                    Ok(resp) => {
                        let mut builder = Response::builder().status(resp.status().as_u16());
                        for (name, value) in resp.headers() {
                            if name != "transfer-encoding" && name != "content-length" {
                                builder = builder.header(name, value);
                            }
                        }
                        let body = resp.bytes().await.unwrap_or_default();
                        builder.body(Body::from(body)).unwrap_or_default()
                    }
                    Err(e) => Response::builder()
                        .status(502)
                        .body(Body::from(e.to_string()))
                        .unwrap_or_default(),
                }
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy { endpoint, fault }
    }

    pub fn inject(&self, fault: Option<Fault>) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }
}

/// The error document EC2 answers with.
pub fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
    )
}

/// An unauthenticated IAM query-API call to an emulator that does not enforce IAM yet. The made-up
/// Authorization header only tells the emulator which service is meant.
pub async fn iam_call(endpoint: &str, params: &[(&str, &str)]) -> String {
    let mut form: Vec<(&str, &str)> = vec![("Version", "2010-05-08")];
    form.extend_from_slice(params);
    let resp = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .form(&form)
        .send()
        .await
        .expect("iam call");
    let status = resp.status();
    let body = resp.text().await.expect("iam body");
    assert!(status.is_success(), "IAM {params:?}: {status} {body}");
    body
}

/// The text between `<tag>` and `</tag>`.
pub fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_string())
}

/// Instances starting or running, per role.
pub async fn live_counts(
    aws: &airq_deploy::aws::Aws,
) -> std::collections::BTreeMap<airq_deploy::stack::Role, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for i in airq_deploy::aws::ec2::instances(aws)
        .await
        .expect("instances")
    {
        if i.is_live() {
            *counts.entry(i.role).or_default() += 1;
        }
    }
    counts
}

/// `--stack STACK COMMAND --allow-cidr 203.0.113.0/24 --artifact ARTIFACT --api-keys FILE EXTRA…`: the
/// arguments of a `plan` or `up`, with the test process's [`keys_file`].
pub fn up_args(stack: &str, command: &str, artifact: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--stack",
        stack,
        command,
        "--allow-cidr",
        "203.0.113.0/24",
        "--artifact",
        artifact,
        "--api-keys",
        keys_file(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// [`deploy_ok`] with owned arguments.
pub async fn deploy_args_ok(config: &SdkConfig, args: &[String]) -> String {
    deploy_ok(config, &args.iter().map(String::as_str).collect::<Vec<_>>()).await
}

/// [`deploy`] with owned arguments.
pub async fn deploy_args(config: &SdkConfig, args: &[String]) -> (Result<(), DeployError>, String) {
    deploy(config, &args.iter().map(String::as_str).collect::<Vec<_>>()).await
}
