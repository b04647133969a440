//! Load test (issue 5): 32 clients on their own connections mix scan, status, findings and
//! stats against one real picketd for a bounded time (60 s; PICKET_LOAD_SECS overrides it),
//! on loopback only with a no-op stand-in tool. Asserts behaviour, not speed: zero errors,
//! and at the end every submitted scan is stored exactly once and has ended done.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use picket_protocol::*;
use picket_testkit::*;
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

const CLIENTS: usize = 32;

type Conn = Framed<UnixStream, FrameCodec<ServerFrame, ClientFrame>>;

async fn connect(socket: &std::path::Path) -> Conn {
    let stream = UnixStream::connect(socket).await.expect("connect");
    let mut hello = Framed::new(
        stream,
        FrameCodec::<HelloReply, Hello>::new(DEFAULT_MAX_FRAME),
    );
    hello.send(Hello::current()).await.expect("send hello");
    match hello.next().await {
        Some(Ok(HelloReply::Welcome { .. })) => {}
        other => panic!("handshake refused: {other:?}"),
    }
    hello.map_codec(|_| FrameCodec::new(DEFAULT_MAX_FRAME))
}

/// Sends one request and collects its answers (one, or a stream until End).
async fn call(conn: &mut Conn, id: u64, request: Request) -> Result<Vec<Response>, String> {
    let streaming = matches!(request, Request::Wait { .. });
    conn.send(ClientFrame { id, request })
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    loop {
        match conn.next().await {
            Some(Ok(frame)) if frame.id == id => match frame.response {
                Response::Error(e) => return Err(e.to_string()),
                Response::End => return Ok(out),
                r if !streaming => return Ok(vec![r]),
                r => out.push(r),
            },
            Some(Ok(frame)) => return Err(format!("answer for another request: {frame:?}")),
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection closed".into()),
        }
    }
}

/// The request client `client` sends as its `n`th: a mix of scan, status, findings, stats.
fn request(client: usize, n: u64) -> Request {
    match (n + client as u64) % 4 {
        0 => Request::Scan(ScanRequest {
            targets: vec![format!("127.0.{}.{}", client + 1, n % 250 + 1)],
            tools: vec!["noop".into()],
            ..Default::default()
        }),
        1 => Request::Status { scan: None },
        2 => Request::Findings(FindingsQuery {
            limit: 20,
            ..Default::default()
        }),
        _ => Request::Stats,
    }
}

/// One client on its own connection until `deadline`: the scan ids it was given, and its
/// errors.
async fn client_until(
    socket: std::path::PathBuf,
    client: usize,
    deadline: Instant,
) -> (Vec<i64>, Vec<String>) {
    let mut conn = connect(&socket).await;
    let (mut ids, mut errors, mut n) = (Vec::new(), Vec::new(), 0u64);
    while Instant::now() < deadline {
        n += 1;
        match call(&mut conn, n, request(client, n)).await {
            Ok(answers) => {
                if let Some(Response::ScanAccepted { id, .. }) = answers.first() {
                    ids.push(*id);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    (ids, errors)
}

/// `CLIENTS` clients at once for `secs`: every scan id handed out, and every error.
fn run_clients(socket: &std::path::Path, secs: u64) -> (Vec<i64>, Vec<String>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let socket = socket.to_path_buf();
    rt.block_on(async move {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|client| tokio::spawn(client_until(socket.clone(), client, deadline)))
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
    let (submitted, errors) = run_clients(env.socket(), secs);
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
