//! Load test (issue 5): 32 clients on their own connections mix scan, status, findings and
//! stats against one real picketd for a bounded time (60 s; PICKET_LOAD_SECS overrides it),
//! on loopback only with a no-op stand-in tool. Asserts behaviour, not speed: zero errors,
//! and at the end every submitted scan is stored exactly once and has ended done.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use picket_client::Client;
use picket_protocol::{FindingsQuery, ScanId, ScanPage, ScanRequest, ScanStatus};
use picket_testkit::*;

const CLIENTS: usize = 32;

/// The `n`th request of one client, by turns a scan, status, findings and stats; a scan's
/// id is returned, for the check at the end.
async fn one_request(client: &mut Client, who: usize, n: u64) -> Result<Option<ScanId>, String> {
    let answered = match (n + who as u64) % 4 {
        0 => {
            let scan = ScanRequest {
                targets: vec![format!("127.0.{}.{}", who + 1, n % 250 + 1)],
                tools: vec!["noop".into()],
                ..Default::default()
            };
            return client
                .scan(scan)
                .await
                .map(|accepted| Some(accepted.id))
                .map_err(|e| e.to_string());
        }
        1 => client.status(None).await.map(drop),
        2 => {
            let query = FindingsQuery {
                limit: 20,
                ..Default::default()
            };
            client.findings(query).await.map(drop)
        }
        _ => client.stats().await.map(drop),
    };
    answered.map(|()| None).map_err(|e| e.to_string())
}

/// `CLIENTS` connections sending requests back to back for `duration`; returns the ids of
/// the scans they submitted and every error they got.
fn mixed_load(socket: &Path, duration: Duration) -> (Vec<ScanId>, Vec<String>) {
    let socket = socket.to_path_buf();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let deadline = Instant::now() + duration;
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let socket = socket.clone();
                tokio::spawn(async move {
                    let mut conn = Client::connect(&socket).await.expect("connect");
                    let (mut ids, mut errors, mut n) = (Vec::new(), Vec::new(), 0u64);
                    while Instant::now() < deadline {
                        n += 1;
                        match one_request(&mut conn, client, n).await {
                            Ok(id) => ids.extend(id),
                            Err(e) => errors.push(e),
                        }
                    }
                    (ids, errors)
                })
            })
            .collect();
        let (mut submitted, mut errors) = (Vec::new(), Vec::new());
        for t in tasks {
            let (ids, errs) = t.await.expect("client task");
            submitted.extend(ids);
            errors.extend(errs);
        }
        (submitted, errors)
    })
}

/// Every scan of `unique` ends, and the store lists each exactly once, all done.
fn assert_each_stored_once_and_done(env: &Env, unique: &BTreeSet<i64>) {
    let ids: Vec<String> = unique.iter().map(|i| i.to_string()).collect();
    for chunk in ids.chunks(200) {
        let mut args = vec!["--json".to_string(), "wait".to_string()];
        args.extend(chunk.iter().cloned());
        let out = output_with_deadline(&mut env.picket_cmd(&args), Duration::from_secs(600));
        assert!(out.status.success(), "{}", describe(&out));
    }
    let mut stored = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = vec!["list", "--limit", "1000"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let page: ScanPage = env.picket_as(&args);
        for s in page.scans {
            assert_eq!(s.status, ScanStatus::Done, "{s:?}");
            stored.push(s.id);
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let stored_set: BTreeSet<i64> = stored.iter().copied().collect();
    assert_eq!(stored.len(), stored_set.len(), "a scan is listed twice");
    assert_eq!(
        &stored_set, unique,
        "stored scans differ from the submitted ones"
    );
}

#[test]
fn thirty_two_clients_mixing_requests_lose_and_duplicate_nothing() {
    let secs: u64 = std::env::var("PICKET_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let cfg = ConfigBuilder::new()
        .limits([("max_concurrent_scans", 16), ("per_target", 64)])
        .tool(
            ToolConfig::new("noop")
                .program("true")
                .ttl_secs(0)
                .concurrency(8)
                .no_version_probe()
                .never_finds(),
        );
    let env = Env::new().with_config(&cfg);
    let _daemon = env.start_daemon();
    let (submitted, errors) = mixed_load(env.socket(), Duration::from_secs(secs));
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    assert!(
        submitted.len() > CLIENTS,
        "the load submitted scans ({})",
        submitted.len()
    );
    let unique: BTreeSet<i64> = submitted.iter().copied().collect();
    assert_eq!(
        unique.len(),
        submitted.len(),
        "a scan id was handed out twice"
    );
    // Every submitted scan ends, and the store holds each exactly once, all done.
    assert_each_stored_once_and_done(&env, &unique);
}
