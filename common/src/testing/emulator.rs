//! The local AWS emulator for tests: moto in server mode (installed into `./.venv` by `scripts/emulator-setup`),
//! one per test process, on a free loopback port.
//!
//! Tests never skip silently when it is missing: they fail and say how to install it. Each test uses its own
//! table or queue names, so tests run in parallel on one emulator without resets.
//!
//! Statics are never dropped, so the emulator cannot be stopped from a destructor. Instead it runs under a tiny
//! shell watchdog that polls the test process once a second and stops the emulator when the test process is
//! gone, whatever way it ended.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};

/// A running emulator.
pub struct Emulator {
    pub endpoint: String,
    addr: SocketAddr,
}

fn moto_server() -> PathBuf {
    if let Ok(path) = std::env::var("AIRQ_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    // common/ is one level below the repository root.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Emulator {
    /// The emulator shared by this test process, started on first use.
    pub fn shared() -> &'static Emulator {
        static EMULATOR: OnceLock<Emulator> = OnceLock::new();
        EMULATOR.get_or_init(Emulator::start)
    }

    /// An emulator of the caller's own, with extra environment for the server (moto reads settings such as
    /// `MOTO_ENABLE_AMI_VALIDATION` at start). For tests that change server-wide state, such as enforcing IAM
    /// permissions, which would disturb other tests sharing [`shared`](Self::shared). It stops when the test
    /// process ends.
    pub fn dedicated(env: &[(&str, &str)]) -> Emulator {
        Self::start_with(env)
    }

    fn start() -> Emulator {
        Self::start_with(&[])
    }

    fn start_with(env: &[(&str, &str)]) -> Emulator {
        let server = moto_server();
        assert!(
            server.exists(),
            "the AWS emulator is not installed at {}: run scripts/emulator-setup (scripts/test does)",
            server.display()
        );
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let watchdog = format!(
            "\"$0\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; trap 'kill $m 2>/dev/null' EXIT; \
             while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done",
            parent = std::process::id()
        );
        // The watchdog is deliberately not waited for: it outlives this handle and ends on its own when the
        // test process is gone.
        #[allow(clippy::zombie_processes)]
        let _watchdog = Command::new("bash")
            .args(["-c", &watchdog])
            .arg(&server)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator");
        // Ready when it accepts connections (about 0.3 s; bounded).
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the emulator did not start on {addr} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Emulator {
            endpoint: format!("http://{addr}"),
            addr,
        }
    }

    /// SDK configuration pointing at the emulator, with dummy credentials (the emulator accepts any). Region and
    /// credentials are given, so the loader never asks the instance metadata service for them.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "static"))
            .load()
            .await
    }

    /// Environment for child processes (gateways, workers) so that the default chain finds the emulator. The
    /// instance metadata service is turned off as a guard: a test must never wait on, or reach, the link-local
    /// metadata address (169.254.169.254) when some code path loads the chain for something the rest left out.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A name no other test in this process (or a concurrent one) uses.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
