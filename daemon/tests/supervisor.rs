//! The ScanSupervisor's rules, in one process with stand-in tools (see scan_rig): discovery
//! runs first and its services trigger the follow-ups whose triggers they match; reported
//! redirects in scope are followed up once and the others become a finding; `--tools` runs
//! exactly those tools; cancel and the deadline end a scan with the right status and stop
//! its processes.

mod scan_rig;

use std::time::{Duration, Instant};

use actix::prelude::*;
use picket_protocol::{RunStatus, ScanEvent, ScanId, ScanStatus};
use picketd::scan::supervisor::{CancelScan, ScanPlan, ScanSupervisor};
use scan_rig::{events_until_finished, profile, EndedProbe, Rig, NMAP_HTTP_AND_HTTPS};
use tokio::sync::{broadcast, mpsc};

const PATIENCE: Duration = Duration::from_secs(20);

/// Puts the scan on the board, subscribes to it, starts its supervisor.
fn start(
    rig: &Rig,
    plan: ScanPlan,
) -> (
    Addr<ScanSupervisor>,
    broadcast::Receiver<ScanEvent>,
    mpsc::UnboundedReceiver<ScanId>,
) {
    let board = &rig.deps.board;
    board.add(plan.id, vec!["127.0.0.1".into()], plan.profile_name.clone());
    let (events, _, _) = board.subscribe(plan.id).expect("on the board");
    let (tx, ended) = mpsc::unbounded_channel();
    let probe = EndedProbe(tx).start();
    let sup = ScanSupervisor::new(plan, rig.deps.clone(), probe.recipient()).start();
    (sup, events, ended)
}

/// (tool, target) of each run, in the order the events name them.
fn started(events: &[ScanEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            ScanEvent::ToolStarted { tool, target, .. } => Some((tool.clone(), target.clone())),
            _ => None,
        })
        .collect()
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn pair(tool: &str, target: &str) -> (String, String) {
    (tool.to_string(), target.to_string())
}

#[actix_rt::test]
async fn discovery_runs_first_and_its_services_trigger_the_matching_follow_ups() {
    let rig = Rig::start(NMAP_HTTP_AND_HTTPS).await;
    let plan = rig
        .plan(profile(&["disc"], &["web", "tls"]), &[], None)
        .await;
    let id = plan.id;
    let (_sup, events, mut ended) = start(&rig, plan);
    let events = events_until_finished(events, PATIENCE).await;

    let runs = started(&events);
    assert_eq!(runs[0], pair("disc", "127.0.0.1"), "discovery starts first");
    assert_eq!(
        sorted(runs),
        sorted(vec![
            pair("disc", "127.0.0.1"),
            pair("web", "http://127.0.0.1:8080/"),
            pair("web", "https://127.0.0.1:8443/"),
            pair("tls", "127.0.0.1:8443"),
        ]),
        "http on 8080 and 8443 triggers web; only the TLS one triggers tls"
    );
    // Follow-ups come from what discovery reported: none starts before discovery did (they
    // may start before it ends: discovery streams its hosts, tests/discovery_stream.rs).
    let detail = rig.detail(id).await;
    let disc = detail.tool_runs.iter().find(|r| r.tool == "disc").unwrap();
    let disc_start = disc.started_at.unwrap();
    for run in detail.tool_runs.iter().filter(|r| r.tool != "disc") {
        assert!(
            run.started_at.unwrap() >= disc_start,
            "{} on {} started before discovery",
            run.tool,
            run.target
        );
    }

    assert_eq!(ended.recv().await, Some(id), "the scheduler is told");
    assert_eq!(detail.status, ScanStatus::Done, "{:?}", detail.error);
    assert_eq!(detail.tool_runs.len(), 4);
    assert!(detail.tool_runs.iter().all(|r| r.status == RunStatus::Done));
    assert_eq!(detail.services.len(), 2, "discovery's services are stored");
    rig.close().await;
}

#[actix_rt::test]
async fn redirects_in_scope_are_followed_up_once_and_the_others_become_a_finding() {
    let rig = Rig::start(NMAP_HTTP_AND_HTTPS).await;
    let plan = rig
        .plan(profile(&["disc"], &["web", "redirector"]), &[], None)
        .await;
    let id = plan.id;
    let (_sup, events, _ended) = start(&rig, plan);
    events_until_finished(events, PATIENCE).await;
    let detail = rig.detail(id).await;
    assert_eq!(detail.status, ScanStatus::Done, "{:?}", detail.error);
    let mut runs: Vec<(String, String)> = detail
        .tool_runs
        .iter()
        .map(|r| (r.tool.clone(), r.target.clone()))
        .collect();
    runs.sort();
    // Every redirector run reports both redirects again: 9090 is still scanned once.
    assert_eq!(
        runs,
        sorted(vec![
            pair("disc", "127.0.0.1"),
            pair("redirector", "127.0.0.1:8080"),
            pair("redirector", "127.0.0.1:8443"),
            pair("redirector", "127.0.0.1:9090"),
            pair("web", "http://127.0.0.1:8080/"),
            pair("web", "http://127.0.0.1:9090/"),
            pair("web", "https://127.0.0.1:8443/"),
        ])
    );
    let not_followed: Vec<_> = detail
        .findings
        .iter()
        .filter(|f| f.title == "Redirect not followed: http://10.0.0.1/")
        .collect();
    assert!(!not_followed.is_empty(), "{:#?}", detail.findings);
    for f in not_followed {
        assert_eq!((f.host.as_str(), f.port), ("127.0.0.1", Some(8080)));
        assert!(f.detail.contains("outside the scope"), "{}", f.detail);
    }
    rig.close().await;
}

#[actix_rt::test]
async fn without_discovered_services_there_are_no_follow_ups() {
    let empty = r#"<?xml version="1.0"?><nmaprun><runstats><finished exit="success"/></runstats></nmaprun>"#;
    let rig = Rig::start(empty).await;
    let plan = rig
        .plan(profile(&["disc"], &["web", "tls"]), &[], None)
        .await;
    let (_sup, events, _ended) = start(&rig, plan);
    let events = events_until_finished(events, PATIENCE).await;
    assert_eq!(started(&events), vec![pair("disc", "127.0.0.1")]);
    rig.close().await;
}

#[actix_rt::test]
async fn explicit_tools_run_exactly_those_with_no_discovery_or_follow_up() {
    let rig = Rig::start(NMAP_HTTP_AND_HTTPS).await;
    // The profile would discover and follow up; --tools overrides all of it.
    let plan = rig
        .plan(profile(&["disc"], &["web", "tls"]), &["web"], Some("8080"))
        .await;
    let id = plan.id;
    let (_sup, events, _ended) = start(&rig, plan);
    let events = events_until_finished(events, PATIENCE).await;
    assert_eq!(
        started(&events),
        vec![pair("web", "http://127.0.0.1:8080/")]
    );
    let detail = rig.detail(id).await;
    assert_eq!(detail.status, ScanStatus::Done);
    assert_eq!(detail.tool_runs.len(), 1);
    rig.close().await;
}

#[actix_rt::test]
async fn cancel_stops_the_runs_and_ends_the_scan_cancelled() {
    let rig = Rig::start(NMAP_HTTP_AND_HTTPS).await;
    let plan = rig.plan(profile(&["sleeper"], &[]), &[], None).await;
    let id = plan.id;
    let (sup, mut events, _ended) = start(&rig, plan);
    loop {
        if let ScanEvent::ToolStarted { .. } = events.recv().await.unwrap() {
            break;
        }
    }
    let asked = Instant::now();
    // Answered once every run has stopped and the status is stored.
    sup.send(CancelScan).await.unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "cancel waited for `sleep 30` to end by itself"
    );
    let detail = rig.detail(id).await;
    assert_eq!(detail.status, ScanStatus::Cancelled);
    assert_eq!(detail.error.as_deref(), Some("cancelled by the user"));
    rig.close().await;
}

#[actix_rt::test]
async fn the_deadline_fails_the_scan_and_stops_its_runs() {
    let rig = Rig::start(NMAP_HTTP_AND_HTTPS).await;
    let mut plan = rig.plan(profile(&["sleeper"], &[]), &[], None).await;
    plan.deadline = Duration::from_secs(1);
    let id = plan.id;
    let begun = Instant::now();
    let (_sup, events, mut ended) = start(&rig, plan);
    let events = events_until_finished(events, PATIENCE).await;
    assert!(
        begun.elapsed() < Duration::from_secs(10),
        "the scan outlived its deadline"
    );
    assert!(matches!(
        events.last(),
        Some(ScanEvent::Finished {
            status: ScanStatus::Failed,
            ..
        })
    ));
    assert_eq!(ended.recv().await, Some(id));
    let detail = rig.detail(id).await;
    assert_eq!(detail.status, ScanStatus::Failed);
    let error = detail.error.unwrap_or_default();
    assert!(error.contains("deadline of 1 s exceeded"), "{error}");
    rig.close().await;
}
