//! The client against a stand-in daemon built on the protocol's own codec, in-process:
//! refusals of each kind, answers that do not fit, event streams, a daemon that hangs up.
//! Must not need a real picketd (tests/foundation.rs drives that one).

use std::future::Future;
use std::path::PathBuf;

use futures::{SinkExt, StreamExt};
use picket_protocol::*;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;
use tokio_util::codec::Framed;

use crate::{CacheReply, Client, ClientError};

type DaemonSide = Framed<UnixStream, FrameCodec<ClientFrame, ServerFrame>>;

/// A stand-in daemon on a fresh socket, for one connection: it reads the hello and sends
/// it back on `hello_seen`, answers with `reply(hello)`, and after a welcome hands the
/// connection to `script`.
struct Stub {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    hello_seen: oneshot::Receiver<Hello>,
}

fn stub<S, F>(reply: impl FnOnce(&Hello) -> Option<HelloReply> + Send + 'static, script: S) -> Stub
where
    S: FnOnce(DaemonSide) -> F + Send + 'static,
    F: Future<Output = ()> + Send,
{
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("picketd.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let (seen, hello_seen) = oneshot::channel();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut framed = Framed::new(stream, FrameCodec::<Hello, HelloReply>::new(4096));
        let hello = framed.next().await.unwrap().unwrap();
        let answer = reply(&hello);
        let _ = seen.send(hello);
        let Some(answer) = answer else { return };
        let welcomed = matches!(answer, HelloReply::Welcome { .. });
        framed.send(answer).await.unwrap();
        if welcomed {
            script(framed.map_codec(|_| FrameCodec::new(DEFAULT_MAX_FRAME))).await;
        }
    });
    Stub {
        _dir: dir,
        socket,
        hello_seen,
    }
}

fn welcome(_: &Hello) -> Option<HelloReply> {
    Some(HelloReply::Welcome {
        protocol: PROTOCOL_VERSION,
        daemon_version: "7.7.7".into(),
        pid: 4242,
    })
}

/// Answers each request in turn with the next of `answers` (several frames each), under
/// the request's id unless the answer names one.
async fn answer(conn: &mut DaemonSide, answers: Vec<Vec<(Option<u64>, Response)>>) {
    for frames in answers {
        let Some(Ok(ClientFrame { id, .. })) = conn.next().await else {
            return;
        };
        for (own_id, response) in frames {
            let id = own_id.unwrap_or(id);
            conn.send(ServerFrame { id, response }).await.unwrap();
        }
    }
}

fn one(response: Response) -> Vec<(Option<u64>, Response)> {
    vec![(None, response)]
}

fn pong() -> Response {
    Response::Pong(PingInfo {
        daemon_version: "7.7.7".into(),
        protocol_version: PROTOCOL_VERSION,
        pid: 4242,
        uptime_ms: 5,
    })
}

fn finished(scan: ScanId, status: ScanStatus) -> Response {
    Response::Event(ScanEvent::Finished { scan, status })
}

#[tokio::test]
async fn each_refusal_comes_back_as_its_kind_with_the_daemon_versions() {
    for kind in [
        RejectKind::BadHello,
        RejectKind::VersionMismatch,
        RejectKind::PeerNotAllowed,
        RejectKind::Busy,
    ] {
        let s = stub(
            move |_| {
                Some(HelloReply::Rejected {
                    kind,
                    daemon_protocol: 99,
                    daemon_version: "9.9.9".into(),
                    reason: format!("{kind:?} because"),
                })
            },
            |_| async {},
        );
        match Client::connect(&s.socket).await {
            Err(ClientError::Rejected {
                kind: got,
                reason,
                daemon_version,
                daemon_protocol,
            }) => {
                assert_eq!(got, kind);
                assert_eq!(reason, format!("{kind:?} because"));
                assert_eq!((daemon_version.as_str(), daemon_protocol), ("9.9.9", 99));
            }
            Err(e) => panic!("{kind:?}: expected a refusal, got {e}"),
            Ok(_) => panic!("{kind:?}: expected a refusal, got a connection"),
        }
    }
}

#[tokio::test]
async fn connect_says_this_builds_hello_and_a_custom_one_is_refused_by_its_version() {
    let s = stub(welcome, |_| async {});
    let client = Client::connect(&s.socket).await.unwrap();
    assert_eq!(s.hello_seen.await.unwrap(), Hello::current());
    assert_eq!(client.welcome().pid, 4242);

    // The daemon's own check: a client of another protocol gets a VersionMismatch.
    let s = stub(
        |h| {
            let refusal = check_hello(h).unwrap_err();
            Some(HelloReply::Rejected {
                kind: refusal.kind,
                daemon_protocol: PROTOCOL_VERSION,
                daemon_version: PACKAGE_VERSION.into(),
                reason: refusal.reason,
            })
        },
        |_| async {},
    );
    let old = Hello {
        protocol: PROTOCOL_VERSION + 1,
        ..Hello::current()
    };
    let err = Client::connect_with_hello(&s.socket, old).await.err();
    assert!(
        matches!(
            err,
            Some(ClientError::Rejected {
                kind: RejectKind::VersionMismatch,
                ..
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_or_stale_socket_is_not_running_and_a_silent_one_closed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sock");
    let err = Client::connect(&missing).await.err();
    assert!(
        matches!(err, Some(ClientError::NotRunning { .. })),
        "{err:?}"
    );

    // What a daemon killed with -9 leaves behind: the file, nobody listening.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let err = Client::connect(&stale).await.err();
    assert!(
        matches!(err, Some(ClientError::NotRunning { .. })),
        "{err:?}"
    );

    // Someone listens, reads the hello and hangs up without an answer: a daemon that
    // crashed or dropped us, told as such (not as a protocol problem).
    let s = stub(|_| None, |_| async {});
    let err = Client::connect(&s.socket).await.err();
    assert!(matches!(&err, Some(ClientError::Closed)), "{err:?}");
    let text = err.unwrap().to_string();
    assert!(text.contains("the daemon closed the connection"), "{text}");
}

#[tokio::test]
async fn typed_methods_return_their_payload_and_a_misfit_answer_is_unexpected() {
    let s = stub(welcome, |mut conn| async move {
        let answers = vec![
            one(pong()),
            one(Response::ShuttingDown),
            one(Response::CacheChanged { removed: 3 }),
            one(Response::CacheStats(CacheStatsReport::default())),
        ];
        answer(&mut conn, answers).await;
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    assert_eq!(client.ping().await.unwrap().pid, 4242);
    match client.ping().await {
        Err(ClientError::Unexpected { request, answer }) => {
            assert_eq!(request, "ping");
            assert_eq!(*answer, Response::ShuttingDown);
        }
        other => panic!("expected Unexpected, got {other:?}"),
    }
    for command in [CacheCommand::Stats, CacheCommand::Clear] {
        let err = client.cache(command).await.err();
        assert!(
            matches!(
                err,
                Some(ClientError::Unexpected {
                    request: "cache",
                    ..
                })
            ),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn an_error_answer_is_a_daemon_error_and_a_hang_up_is_closed() {
    let reply = ErrorReply::new(ErrorKind::NotFound, "no scan 5", "see `picket list`");
    let s = stub(welcome, {
        let reply = reply.clone();
        move |mut conn| async move {
            answer(&mut conn, vec![one(Response::Error(reply))]).await;
            // Read the next request, then hang up without answering it.
            let _ = conn.next().await;
        }
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    match client.show(5).await {
        Err(ClientError::Daemon(got)) => assert_eq!(got, reply),
        other => panic!("expected the daemon's error, got {other:?}"),
    }
    let err = client.cache(CacheCommand::Cleanup).await.err();
    assert!(matches!(err, Some(ClientError::Closed)), "{err:?}");
}

#[tokio::test]
async fn wait_gives_the_events_in_order_until_end_then_the_connection_serves_again() {
    let s = stub(welcome, |mut conn| async move {
        let events = vec![
            (None, Response::Event(ScanEvent::Started { scan: 1 })),
            (None, finished(1, ScanStatus::Done)),
            (None, finished(2, ScanStatus::Failed)),
            (None, Response::End),
        ];
        answer(&mut conn, vec![events.clone(), one(pong()), events]).await;
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    let seen = {
        let mut events = client.wait(vec![1, 2], true).await.unwrap();
        let mut seen = Vec::new();
        while let Some(e) = events.next().await.unwrap() {
            seen.push(e);
        }
        assert_eq!(events.next().await.unwrap(), None, "the stream stays ended");
        seen
    };
    assert_eq!(
        seen,
        [
            ScanEvent::Started { scan: 1 },
            ScanEvent::Finished {
                scan: 1,
                status: ScanStatus::Done
            },
            ScanEvent::Finished {
                scan: 2,
                status: ScanStatus::Failed
            },
        ]
    );
    assert_eq!(client.ping().await.unwrap().uptime_ms, 5);
    let ended = client
        .wait(vec![1, 2], false)
        .await
        .unwrap()
        .finished()
        .await;
    assert_eq!(
        ended.unwrap(),
        [(1, ScanStatus::Done), (2, ScanStatus::Failed)]
    );
}

#[tokio::test]
async fn the_rest_of_a_stream_left_unread_is_skipped_by_the_next_request() {
    let s = stub(welcome, |mut conn| async move {
        let first = vec![(None, Response::Event(ScanEvent::Started { scan: 1 }))];
        // The stream's tail arrives only after the next request, ahead of its answer.
        let (wait_id, ping_id) = (Some(1), None);
        let then = vec![
            (wait_id, finished(1, ScanStatus::Done)),
            (wait_id, Response::End),
            (ping_id, pong()),
        ];
        answer(&mut conn, vec![first, then]).await;
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    {
        let mut events = client.wait(vec![1], true).await.unwrap();
        assert!(events.next().await.unwrap().is_some());
        // Left unread from here on.
    }
    assert_eq!(client.ping().await.unwrap().pid, 4242);
}

#[tokio::test]
async fn an_error_answer_ends_a_stream() {
    let reply = ErrorReply::new(ErrorKind::NotFound, "no scan 9", "see `picket list`");
    let s = stub(welcome, {
        let reply = reply.clone();
        move |mut conn| async move {
            let frames = vec![
                (None, Response::Event(ScanEvent::Started { scan: 1 })),
                (None, Response::Error(reply)),
            ];
            answer(&mut conn, vec![frames]).await;
        }
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    let mut events = client.wait(vec![1, 9], true).await.unwrap();
    assert!(events.next().await.unwrap().is_some());
    match events.next().await {
        Err(ClientError::Daemon(got)) => assert_eq!(got, reply),
        other => panic!("expected the daemon's error, got {other:?}"),
    }
    assert_eq!(events.next().await.unwrap(), None);
}

#[tokio::test]
async fn cache_answers_by_command() {
    let s = stub(welcome, |mut conn| async move {
        let stats = CacheStatsReport {
            hits: 4,
            ..Default::default()
        };
        let answers = vec![
            one(Response::CacheStats(stats)),
            one(Response::CacheChanged { removed: 3 }),
        ];
        answer(&mut conn, answers).await;
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    match client.cache(CacheCommand::Stats).await.unwrap() {
        CacheReply::Stats(s) => assert_eq!(s.hits, 4),
        other => panic!("{other:?}"),
    }
    let removed = client.cache(CacheCommand::Clear).await.unwrap();
    assert_eq!(removed, CacheReply::Removed(3));
}

#[tokio::test]
async fn an_answer_to_no_request_in_progress_is_misrouted() {
    let s = stub(welcome, |mut conn| async move {
        answer(&mut conn, vec![vec![(Some(77), pong())]]).await;
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    let err = client.ping().await.err();
    assert!(
        matches!(
            err,
            Some(ClientError::Misrouted {
                expected: 1,
                got: 77
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_call_given_up_on_does_not_derail_the_next_one() {
    let s = stub(welcome, |mut conn| async move {
        // The first ping is answered only after the second one arrives, ahead of its answer.
        let late = vec![(Some(1), pong()), (None, Response::ShuttingDown)];
        answer(&mut conn, vec![vec![], late]).await;
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(50), client.ping()).await;
    assert!(gave_up.is_err(), "the first ping has no answer yet");
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_silent_daemon_times_out_naming_the_handshake_then_the_request() {
    use std::time::Duration;
    let short = Some(Duration::from_millis(200));
    // Accepts and never answers the hello: what a stopped (SIGSTOP) daemon looks like.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("silent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let err = Client::connect_within(&socket, short).await.err();
    assert!(matches!(err, Some(ClientError::TimedOut { .. })), "{err:?}");
    let text = err.unwrap().to_string();
    assert!(text.contains("to answer the handshake"), "{text}");
    drop(listener);

    // Welcomes, then never answers a request.
    let (hold, held) = oneshot::channel::<()>();
    let s = stub(welcome, |conn| async move {
        let _open = conn;
        let _ = held.await;
    });
    let mut client = Client::connect_within(&s.socket, short).await.unwrap();
    let err = client.ping().await.unwrap_err();
    assert!(
        err.to_string().contains("to answer the ping request"),
        "{err}"
    );
    // Without a timeout the same call would wait: the timeout is the client's, per call.
    client.set_timeout(None);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), client.ping())
            .await
            .is_err(),
        "an untimed call gave up by itself"
    );
    drop(hold);
}

#[tokio::test]
async fn a_request_refused_while_being_written_reports_the_daemons_reason() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Reads the start of the request, answers busy and hangs up, as picketd does when a
    // request does not fit its budget for partly received frames.
    let s = stub(welcome, |conn| async move {
        let mut raw = conn.into_inner();
        let mut head = [0u8; 4];
        raw.read_exact(&mut head).await.unwrap();
        let reply = ErrorReply::new(ErrorKind::Busy, "does not fit", "retry shortly");
        let frame = encode_frame(&ServerFrame {
            id: 0,
            response: Response::Error(reply),
        })
        .unwrap();
        raw.write_all(&frame).await.unwrap();
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    // Far more than a socket buffer holds: the write is still going when the daemon hangs up.
    let request = Request::Scan(ScanRequest {
        targets: vec!["x".repeat(1 << 10); 4096],
        ..Default::default()
    });
    let err = client.call(request).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Daemon(e) if e.kind == ErrorKind::Busy),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_full_accept_queue_is_waited_out_until_the_timeout_and_named_without_one() {
    use std::time::Duration;
    // A listener that never accepts: its queue fills, then connects fail with EAGAIN.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("full.sock");
    let _listener = UnixListener::bind(&socket).unwrap();
    let mut queued = Vec::new();
    loop {
        match UnixStream::connect(&socket).await {
            Ok(s) => queued.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("connect {}: {e}", queued.len()),
        }
        assert!(queued.len() < 10_000, "the accept queue never filled");
    }
    let err = Client::connect_within(&socket, Some(Duration::from_millis(300)))
        .await
        .err();
    assert!(matches!(err, Some(ClientError::TimedOut { .. })), "{err:?}");
    assert!(err
        .unwrap()
        .to_string()
        .contains("to accept the connection"));
    let err = Client::connect(&socket).await.err();
    assert!(
        matches!(&err, Some(ClientError::Unreachable { reason, .. }) if reason.contains("queue")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_big_answer_in_parts_is_joined_and_the_connection_goes_on() {
    let progress: Vec<ScanProgress> = (0..2000)
        .map(|id| ScanProgress {
            id,
            targets: vec![format!("https://example.test/{id}/{}", "a".repeat(100))],
            profile: "web".into(),
            status: ScanStatus::Queued,
            runs_total: 1,
            runs_finished: 0,
            running: vec![],
            findings_count: 0,
        })
        .collect();
    let frames: Vec<_> = split_answer(Response::Status(progress.clone()), 16 * 1024)
        .into_iter()
        .map(|r| (None, r))
        .collect();
    assert!(frames.len() > 10);
    let s = stub(welcome, |mut conn| async move {
        answer(&mut conn, vec![frames, one(pong())]).await;
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    assert_eq!(client.status(None).await.unwrap(), progress);
    assert_eq!(client.ping().await.unwrap().pid, 4242);
}

#[tokio::test]
async fn an_import_streams_the_file_in_chunks_under_one_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.xml");
    // Three and a bit chunks: the last one short.
    let content: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let (got_tx, got_rx) = oneshot::channel();
    let s = stub(welcome, |mut conn| async move {
        let mut frames = Vec::new();
        while let Some(Ok(frame)) = conn.next().await {
            let end = frame.request == Request::ImportEnd;
            frames.push(frame);
            if end {
                break;
            }
        }
        let id = frames[0].id;
        let accepted = Response::ScanAccepted {
            id: 5,
            queued_behind: 0,
        };
        conn.send(ServerFrame {
            id,
            response: accepted,
        })
        .await
        .unwrap();
        let _ = got_tx.send(frames);
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    let import = crate::ImportFile {
        tool: "nmap".into(),
        path: path.clone(),
        target: None,
        max_bytes: crate::DEFAULT_MAX_IMPORT_BYTES,
    };
    assert_eq!(client.import_file(import).await.unwrap(), 5);
    let frames = got_rx.await.unwrap();
    assert!(frames.iter().all(|f| f.id == frames[0].id));
    match &frames[0].request {
        Request::ImportStart(h) => {
            assert_eq!((h.tool.as_str(), h.size), ("nmap", content.len() as u64))
        }
        other => panic!("{other:?}"),
    }
    let mut sent = Vec::new();
    for f in &frames[1..frames.len() - 1] {
        let Request::ImportChunk(bytes) = &f.request else {
            panic!("{:?}", f.request)
        };
        assert!(bytes.len() <= 1024 * 1024);
        sent.extend_from_slice(bytes);
    }
    assert_eq!(frames.len(), 1 + 4 + 1);
    assert_eq!(sent, content);
}

#[tokio::test]
async fn a_request_over_the_clients_frame_cap_names_the_cap_and_is_not_sent() {
    let s = stub(welcome, |mut conn| async move {
        answer(&mut conn, vec![one(pong())]).await;
    });
    let mut client = Client::connect(&s.socket).await.unwrap();
    client.set_max_frame(4096);
    let request = ScanRequest {
        targets: vec!["x".repeat(5000)],
        ..Default::default()
    };
    let err = client.scan(request).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::RequestTooLarge {
                request: "scan",
                cap: 4096,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("PICKET_MAX_FRAME_BYTES"), "{err}");
    // Nothing went out: the next request is the stub's first.
    assert_eq!(client.ping().await.unwrap().pid, 4242);
}
