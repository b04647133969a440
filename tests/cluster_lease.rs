//! The per-target lease semaphore (daemon/src/cluster/lease.rs) against a real
//! redis-server on loopback: the limit holds for many acquirers on several connections
//! ("nodes"), a dead holder's slot frees when its lease runs out, a renewed lease is not
//! taken, and a release wakes a waiter on another node through `picket:slotfreed`.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use picket_testkit::cluster::RedisServer;
use picketd::cluster::conn::Redis;
use picketd::cluster::lease::Leases;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// One "node": its own connection (and, with `listen`, its own slot-freed subscriber).
async fn node(redis: &RedisServer, lease: Duration, listen: bool) -> Leases {
    let redis = Redis::open(&redis.url()).await.unwrap();
    let leases = Leases::new(redis.manager.clone(), lease);
    if listen {
        tokio::spawn(leases.clone().listen(redis));
    }
    leases
}

/// Bounds a wait that must end: a hang fails the test instead of stalling it.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what} never happened"))
}

#[test]
fn never_more_holders_than_the_limit_across_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    rt().block_on(async {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(node(&redis, Duration::from_secs(10), true).await);
        }
        let (now, max, total) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let mut tasks = Vec::new();
        for w in 0..12 {
            let l = nodes[w % 3].clone();
            let (now, max, total) = (now.clone(), max.clone(), total.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..20 {
                    let holder = format!("node{}:{w}:{i}", w % 3);
                    l.acquire("127.0.4.1", &holder, 2).await.unwrap();
                    let held = now.fetch_add(1, SeqCst) + 1;
                    max.fetch_max(held, SeqCst);
                    assert!(l.holders("127.0.4.1").await.unwrap().len() <= 2);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    now.fetch_sub(1, SeqCst);
                    assert!(l.release("127.0.4.1", &holder).await.unwrap());
                    total.fetch_add(1, SeqCst);
                }
            }));
        }
        for t in tasks {
            within("every acquisition", t).await.unwrap();
        }
        assert_eq!(total.load(SeqCst), 240);
        assert_eq!(
            max.load(SeqCst),
            2,
            "the limit is 2 and 12 workers wanted slots"
        );
        assert!(nodes[0].holders("127.0.4.1").await.unwrap().is_empty());
    });
    // An idle host leaves no key behind once its leases are gone.
    assert_eq!(
        redis.cli(&["EXISTS", "picket:slots:{10.0.0.1}"]).trim(),
        "0"
    );
}

#[test]
fn a_dead_holders_slot_frees_when_its_lease_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    rt().block_on(async {
        let dead = node(&redis, Duration::from_millis(800), false).await;
        let alive = node(&redis, Duration::from_millis(800), false).await;
        assert!(dead.try_acquire("h", "dead-run", 1).await.unwrap());
        assert!(
            !alive.try_acquire("h", "other-run", 1).await.unwrap(),
            "the slot is held"
        );
        // "dead" never renews nor releases: only the expiry can free the slot.
        within(
            "the expired slot being taken",
            alive.acquire("h", "other-run", 1),
        )
        .await
        .unwrap();
        assert_eq!(
            alive.holders("h").await.unwrap(),
            vec!["other-run".to_string()]
        );
        assert!(
            !dead.renew("h", "dead-run").await.unwrap(),
            "an expired lease cannot be renewed"
        );
    });
}

#[test]
fn a_renewed_lease_is_kept_and_acquiring_again_is_a_renewal() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    rt().block_on(async {
        let a = node(&redis, Duration::from_millis(900), false).await;
        let b = node(&redis, Duration::from_millis(900), false).await;
        assert!(a.try_acquire("h", "run-a", 1).await.unwrap());
        // The same holder acquiring again (a reclaimed run) renews, it takes no second slot.
        assert!(a.try_acquire("h", "run-a", 1).await.unwrap());
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(a.renew("h", "run-a").await.unwrap());
            assert!(
                !b.try_acquire("h", "run-b", 1).await.unwrap(),
                "a renewed lease is held"
            );
        }
        assert!(a.release("h", "run-a").await.unwrap());
        assert!(!a.release("h", "run-a").await.unwrap(), "released twice");
        assert!(b.try_acquire("h", "run-b", 1).await.unwrap());
    });
}

#[test]
fn a_release_wakes_a_waiter_on_another_node() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    rt().block_on(async {
        // A minute's lease: the waiter's fallback poll (every lease/3 = 20 s) is beyond
        // `within`'s bound, so only the published release can wake it in time.
        let a = node(&redis, Duration::from_secs(60), true).await;
        let b = node(&redis, Duration::from_secs(60), true).await;
        tokio::time::sleep(Duration::from_millis(200)).await; // subscribers ready
        assert!(a.try_acquire("h", "run-a", 1).await.unwrap());
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.acquire("h", "run-b", 1).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiter.is_finished(), "the slot is still held");
        assert!(a.release("h", "run-a").await.unwrap());
        within("the waiter waking", waiter).await.unwrap().unwrap();
        assert_eq!(b.holders("h").await.unwrap(), vec!["run-b".to_string()]);
    });
}
