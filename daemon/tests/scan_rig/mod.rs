//! A scan engine in one process, for the scheduler and supervisor tests: a temp-file
//! SQLite through `storage::Db`, the cache actor, the scan board, and a toolbox whose
//! tools are stand-ins (`cat` of a canned nmap XML, `echo`, `sleep`), so a test states a
//! rule of the scan engine without a daemon, a socket or a real scanner.
//! Must not reach beyond loopback: every target here is 127.0.0.1.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use picket_protocol::{ScanDetail, ScanEvent, ScanId, ScanStatus};
use picketd::cache::actor::CacheActor;
use picketd::config::{Config, Profile, ToolConfig};
use picketd::metrics::Metrics;
use picketd::run::scope_gate::ScopeGate;
use picketd::run::toolbox::Toolbox;
use picketd::scan::board::ScanBoard;
use picketd::scan::supervisor::{ScanEnded, ScanPlan, SupervisorDeps};
use picketd::scope::Scope;
use picketd::storage::queries::{self, NewScan};
use picketd::storage::Db;
use tokio::sync::{broadcast, mpsc};

/// Discovery's canned answer: http on 8080, TLS-wrapped http on 8443.
pub const NMAP_HTTP_AND_HTTPS: &str = r#"<?xml version="1.0"?><nmaprun><host><status state="up"/>
<address addr="127.0.0.1" addrtype="ipv4"/><ports>
<port protocol="tcp" portid="8080"><state state="open"/><service name="http"/></port>
<port protocol="tcp" portid="8443"><state state="open"/><service name="http" tunnel="ssl"/></port>
</ports></host><runstats><finished exit="success"/></runstats></nmaprun>"#;

/// What `redirector` reports, as whatweb would: 8080 redirects out of scope (10.0.0.1) and,
/// from another path, to 9090 on the same host.
pub const WHATWEB_REDIRECTS: &str = r#"[
{"target":"http://127.0.0.1:8080/","http_status":302,"plugins":{"RedirectLocation":{"string":["http://10.0.0.1/"]}}},
{"target":"http://127.0.0.1:8080/login","http_status":302,"plugins":{"RedirectLocation":{"string":["http://127.0.0.1:9090/"]}}}
]"#;

/// The stand-in tools. `disc` plays nmap (prints the canned XML), `web` follows up http
/// (gets the URL), `tls` follows up ssl (gets host:port), `redirector` follows up http and
/// plays whatweb (prints `WHATWEB_REDIRECTS`), `sleeper` never ends on its own, `quick` ends
/// at once. No cache (ttl 0), no retries: each run is one real process.
fn tools_toml(dir: &std::path::Path) -> String {
    let line = r#"parser = { kind = "regex", pattern = '^(?P<title>\S+)$' }"#;
    format!(
        r#"
[disc]
program = "cat"
args = ["{xml}"]
parser = "nmap"
ttl_secs = 0
retries = 0

[web]
program = "echo"
args = ["{{url}}"]
{line}
triggers = ["http"]
ttl_secs = 0
retries = 0

[redirector]
program = "cat"
args = ["{whatweb}"]
parser = "whatweb"
triggers = ["http"]
ttl_secs = 0
retries = 0

[tls]
program = "echo"
args = ["{{hostport}}"]
{line}
triggers = ["ssl"]
ttl_secs = 0
retries = 0

[sleeper]
program = "sleep"
args = ["30"]
{line}
ttl_secs = 0
retries = 0
concurrency = 8

[quick]
program = "true"
args = []
{line}
ttl_secs = 0
retries = 0
concurrency = 8
"#,
        xml = dir.join("nmap.xml").display(),
        whatweb = dir.join("whatweb.json").display(),
    )
}

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub db: Db,
    pub deps: SupervisorDeps,
    pub scope: Arc<Scope>,
}

impl Rig {
    /// Everything but the scheduler and supervisors, with `discovery_xml` as what `disc`
    /// reports.
    pub async fn start(discovery_xml: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("nmap.xml"), discovery_xml).unwrap();
        std::fs::write(dir.path().join("whatweb.json"), WHATWEB_REDIRECTS).unwrap();
        let tools = toml::from_str::<BTreeMap<String, ToolConfig>>(&tools_toml(dir.path()))
            .expect("stand-in tools parse");
        let config = Config {
            tools,
            profiles: BTreeMap::new(),
            ..Config::default()
        };
        let pool = picketd::storage::open(&dir.path().join("picket.db"), &config.db)
            .await
            .unwrap();
        let metrics = Arc::new(Metrics::new(config.db.slow_query_ms));
        let db = Db::start(pool, metrics.clone(), config.db.write_batch);
        let board = Arc::new(ScanBoard::default());
        let gate = ScopeGate::from_config(&config.scope).unwrap();
        let toolbox = Toolbox::new(&config, board.clone(), Arc::new(gate));
        toolbox.apply(&config).await;
        let cache = CacheActor::new(db.clone(), 1 << 20, Duration::from_secs(3600)).start();
        let scope = Arc::new(Scope::from_config(&config.scope).unwrap());
        let deps = SupervisorDeps {
            db: db.clone(),
            metrics,
            cache,
            board,
            toolbox,
            notifier: None,
            remote: None,
        };
        Rig {
            dir,
            db,
            deps,
            scope,
        }
    }

    /// A stored, queued scan of 127.0.0.1 and its plan: a profile, or exactly `tools`.
    pub async fn plan(&self, profile: Profile, tools: &[&str], ports: Option<&str>) -> ScanPlan {
        let tools: Vec<String> = tools.iter().map(|t| t.to_string()).collect();
        let row = NewScan {
            targets: vec!["127.0.0.1".into()],
            profile: "test".into(),
            ports: ports.map(String::from),
            tools: tools.clone(),
            priority: 0,
            no_cache: false,
            status: ScanStatus::Queued,
        };
        let id = self
            .db
            .write("create scan", move |c| queries::create_scan(c, &row))
            .await
            .unwrap();
        ScanPlan {
            id,
            targets: vec![self.scope.check("127.0.0.1").await.unwrap()],
            profile_name: "test".into(),
            profile,
            explicit_tools: tools,
            ports: ports.map(String::from),
            priority: 0,
            no_cache: false,
            deadline: Duration::from_secs(60),
            max_age_secs: None,
            scope: self.scope.clone(),
            resumed: false,
        }
    }

    pub async fn detail(&self, id: ScanId) -> ScanDetail {
        self.db
            .read("scan detail", move |c| queries::get_scan(c, id))
            .await
            .unwrap()
            .expect("the scan's row")
    }

    /// Waits until `check` holds, or fails the test after `within`.
    pub async fn until(&self, within: Duration, what: &str, mut check: impl FnMut(&Rig) -> bool) {
        let start = Instant::now();
        while !check(self) {
            assert!(start.elapsed() < within, "gave up waiting: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The ids of the scans the board shows running, in id order.
    pub fn running(&self) -> Vec<ScanId> {
        self.deps
            .board
            .all()
            .into_iter()
            .filter(|p| p.status == ScanStatus::Running)
            .map(|p| p.id)
            .collect()
    }

    pub async fn close(self) {
        self.db.close().await;
    }
}

pub fn profile(discovery: &[&str], follow_up: &[&str]) -> Profile {
    let names = |v: &[&str]| v.iter().map(|t| t.to_string()).collect();
    Profile {
        discovery: names(discovery),
        follow_up: names(follow_up),
        ..Profile::default()
    }
}

/// Every event of one scan, up to and including its Finished, or a failure after `within`.
pub async fn events_until_finished(
    mut rx: broadcast::Receiver<ScanEvent>,
    within: Duration,
) -> Vec<ScanEvent> {
    let collect = async move {
        let mut events = Vec::new();
        loop {
            let ev = rx.recv().await.expect("the scan's events");
            let end = matches!(ev, ScanEvent::Finished { .. });
            events.push(ev);
            if end {
                return events;
            }
        }
    };
    tokio::time::timeout(within, collect)
        .await
        .expect("the scan did not finish in time")
}

/// Stands in for the scheduler: passes each `ScanEnded` on.
pub struct EndedProbe(pub mpsc::UnboundedSender<ScanId>);

impl Actor for EndedProbe {
    type Context = Context<Self>;
}

impl Handler<ScanEnded> for EndedProbe {
    type Result = ();
    fn handle(&mut self, ScanEnded(id): ScanEnded, _: &mut Self::Context) {
        let _ = self.0.send(id);
    }
}
