//! Conformance with real clients and tools, against the real binary: the graphql-http
//! audit (every MUST and SHOULD of GraphQL over HTTP), the official graphql-ws client,
//! and GraphiQL in headless Chromium with no network beyond 127.0.0.1. The scripts live
//! in `tests/conformance/` (`npm ci` runs when `node_modules` is missing); Debian's
//! `chromium` is installed by `.ci/run`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::support::process::{Process, eventually};
use crate::support::{Session, TestApp, fixture};

const SECRET: &str = "conformance-app-secret";
const IG: &str = "17841400000000101";

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// Installs the pinned npm packages once per test run.
async fn npm_ci() {
    static DONE: OnceCell<()> = OnceCell::const_new();
    DONE.get_or_init(|| async {
        if scripts().join("node_modules/.package-lock.json").exists() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(scripts())
            .status()
            .await
            .expect("npm (Node.js 20+) must be installed");
        assert!(status.success(), "npm ci failed in tests/conformance");
    })
    .await;
}

/// The real binary on a fresh database, an org with an Instagram channel and one DM.
struct Stack {
    _app: TestApp,
    server: Process,
    admin: Session,
    channel: String,
}

async fn stack() -> Stack {
    npm_ci().await;
    let app = TestApp::new().await;
    let admin = app.signup("Conformance", "ana@example.com").await;
    let channel = app.create_channel(&admin, "INSTAGRAM", IG, SECRET).await;
    let server = Process::serve(&app.db.url(), &[], &[]).await;
    // One DM, processed by the server's own workers.
    let body = fixture("ig_dm_text");
    let signature = delightchat::webhooks::signature::sign(&body, SECRET.as_bytes());
    let client = reqwest::Client::new();
    let status = client
        .post(format!("{}/webhook/{channel}", server.url()))
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    eventually(Duration::from_secs(60), "the DM in the inbox", || async {
        app.count("SELECT count(*) AS n FROM messages").await == 1
    })
    .await;
    Stack {
        _app: app,
        server,
        admin,
        channel,
    }
}

/// Runs `node <script>` against the stack; returns its exit success and last JSON line.
async fn node(stack: &Stack, script: &str) -> (bool, Value) {
    let output = Command::new("node")
        .arg(script)
        .current_dir(scripts())
        .env("DC_URL", stack.server.url())
        .env("DC_TOKEN", &stack.admin.token)
        .env("DC_ORG", &stack.admin.org_id)
        .env("DC_CHANNEL", &stack.channel)
        .env("DC_APP_SECRET", SECRET)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node (Node.js 20+) must be installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stdout.lines().rev().find(|l| l.starts_with('{'));
    let report = last
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| json!({"stdout": stdout, "stderr": stderr}));
    if !output.status.success() {
        eprintln!("{script}: {report:#}\n{stderr}");
    }
    (output.status.success(), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_http_audit_passes_every_must_and_should() {
    let stack = stack().await;
    let (ok, report) = node(&stack, "audit.mjs").await;
    assert!(ok, "{report:#}");
    let must = &report["MUST"];
    let should = &report["SHOULD"];
    assert_eq!(must[0], must[1], "{report:#}");
    assert_eq!(should[0], should[1], "{report:#}");
    assert!(
        must[1].as_u64().unwrap() >= 13 && should[1].as_u64().unwrap() >= 23,
        "{report:#}"
    );
    println!(
        "graphql-http audit: MUST {must}, SHOULD {should}, MAY {}",
        report["MAY"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_graphql_ws_client_receives_replayed_and_live_events() {
    let stack = stack().await;
    let (ok, report) = node(&stack, "ws-client.mjs").await;
    assert!(ok, "{report:#}");
    assert_eq!(
        report["replayed"],
        "Hello! Is the blue kettle back in stock?"
    );
    assert!(
        report["live"]
            .as_str()
            .unwrap()
            .starts_with("graphql-ws live"),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_works_in_headless_chromium_without_the_internet() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: `apt-get install chromium` (.ci/run does it)"
    );
    let stack = stack().await;
    let (ok, report) = node(&stack, "graphiql.mjs").await;
    assert!(ok, "{report:#}");
    assert_eq!(report["docs"], true);
    assert_eq!(report["query"], true);
    assert_eq!(report["subscription"], true);
    assert_eq!(report["offHost"], json!([]));
    assert_eq!(report["csp"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checked_in_introspection_query_is_graphql_js_own() {
    npm_ci().await;
    let output = Command::new("node")
        .arg("introspection-query.mjs")
        .current_dir(scripts())
        .output()
        .await
        .expect("node");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        include_str!("../fixtures/graphql/introspection.graphql")
    );
}
