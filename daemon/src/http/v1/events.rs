//! Live events as Server-Sent Events: `/v1/scans/{id}/events` (one scan, like `picket
//! follow`: what it did so far, then live, ending with its `finished` event) and
//! `/v1/events` (every scan: the running ones replayed, then every event live, until the
//! daemon stops). Each message is `event: KIND` and `data:` the `event` document
//! (schemas/event.json). Must not track scans itself: the scan board and the wait handler
//! do.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use futures::{Stream, StreamExt};
use picket_protocol::json::{Doc, EventDoc};
use picket_protocol::{Request, Response, ScanEvent, ScanId, ScanStatus};
use tokio::sync::broadcast::{self, error::RecvError};

use super::{Answer, Endpoint, Routes, State};
use crate::http::answer::document;
use crate::ipc::handlers::{self, Reply};
use crate::ipc::state::DaemonState;

/// A comment line this often keeps idle connections (and proxies) from timing out, and
/// lets the server notice a client that left.
const KEEPALIVE: Duration = Duration::from_secs(15);

pub fn routes(r: &mut Routes) {
    r.add(
        Endpoint::new(Method::GET, "/scans/{id}/events", "scanEvents")
            .summary("One scan's events as Server-Sent Events, ending with `finished`")
            .id("id", "The scan's id")
            .answers_with(Answer::Events),
        scan_events,
    );
    r.add(
        Endpoint::new(Method::GET, "/events", "allEvents")
            .summary("Every scan's events as Server-Sent Events (running scans replayed)")
            .answers_with(Answer::Events),
        all_events,
    );
}

/// One SSE message: `event: KIND`, `data: {"schema_version":1,"kind":KIND,...}`.
pub fn frame(event: ScanEvent) -> Bytes {
    let doc = EventDoc::from(event);
    let kind = doc.kind();
    // A document of plain strings and numbers always serializes (and on one line).
    let data = serde_json::to_string(&Doc::new(doc)).unwrap_or_default();
    Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
}

fn sse(stream: impl Stream<Item = Bytes> + 'static) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-store"))
        .streaming(stream.map(Ok::<_, Infallible>))
}

async fn scan_events(state: State, id: web::Path<ScanId>) -> HttpResponse {
    let state = state.into_inner();
    let scan = id.into_inner();
    let follow = Request::Wait {
        scans: vec![scan],
        follow: true,
    };
    let events = match handlers::handle(&state, follow).await {
        Reply::Stream(events) => events,
        // Unknown scan: 404 with the error document, before any event.
        Reply::One(answer) => return document(answer),
    };
    let finished = Arc::new(AtomicBool::new(false));
    let seen = finished.clone();
    let live = events.filter_map(move |r| {
        let event = match r {
            Response::Event(e) => Some(e),
            _ => None,
        };
        if matches!(event, Some(ScanEvent::Finished { .. })) {
            seen.store(true, Ordering::Relaxed);
        }
        std::future::ready(event.map(frame))
    });
    // A scan final before it was asked for has no event left: it still gets its
    // `finished`, so every stream ends the same way.
    let stop = state.shutdown.clone().cancelled_owned();
    let last = futures::stream::once(async move {
        if finished.load(Ordering::Relaxed) {
            return None;
        }
        final_status(&state, scan)
            .await
            .map(|status| frame(ScanEvent::Finished { scan, status }))
    })
    .filter_map(std::future::ready);
    sse(live.chain(last).take_until(stop))
}

async fn final_status(state: &Arc<DaemonState>, scan: ScanId) -> Option<ScanStatus> {
    match handlers::handle(state, Request::Show { scan }).await {
        Reply::One(Response::Scan(d)) => Some(d.status),
        _ => None,
    }
}

async fn all_events(state: State) -> HttpResponse {
    let (rx, on_board) = state.board.subscribe_all();
    // As `picket follow`: a running scan is told from its start.
    let replay: Vec<Bytes> = on_board
        .into_iter()
        .filter(|(_, status, _)| *status == ScanStatus::Running)
        .flat_map(|(scan, _, past)| std::iter::once(ScanEvent::Started { scan }).chain(past))
        .map(frame)
        .collect();
    let stop = state.shutdown.clone().cancelled_owned();
    sse(futures::stream::iter(replay)
        .chain(live(rx))
        .take_until(stop))
}

/// Every event as it comes, a keepalive comment when none came for a while.
fn live(rx: broadcast::Receiver<ScanEvent>) -> impl Stream<Item = Bytes> {
    let start = tokio::time::Instant::now() + KEEPALIVE;
    let tick = tokio::time::interval_at(start, KEEPALIVE);
    futures::stream::unfold((rx, tick), |(mut rx, mut tick)| async move {
        let bytes = tokio::select! {
            r = rx.recv() => match r {
                Ok(event) => frame(event),
                Err(RecvError::Lagged(n)) => Bytes::from(format!(
                    ": {n} events missed (this client read too slowly): GET /v1/status\n\n"
                )),
                Err(RecvError::Closed) => return None,
            },
            _ = tick.tick() => Bytes::from_static(b": keepalive\n\n"),
        };
        Some((bytes, (rx, tick)))
    })
}
