//! Politeness: at most N runs against one host at once, across all tools and scans.
//!
//! Tool actors ask for a slot before starting a run and give it back when the run ends;
//! on release every tool actor is told to look at its queue again, since the freed host may
//! unblock a run queued behind another tool's limit. Must not queue runs itself.

use std::collections::HashMap;
use std::sync::Mutex;

use actix::Recipient;

/// Sent to tool actors when a host slot frees up.
#[derive(actix::Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct SlotFreed;

#[derive(Default)]
pub struct HostLimits {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    limit: usize,
    busy: HashMap<String, usize>,
    waiters: Vec<Recipient<SlotFreed>>,
}

impl HostLimits {
    pub fn new(limit: u32) -> Self {
        Self {
            inner: Mutex::new(Inner {
                limit: limit.max(1) as usize,
                ..Default::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_limit(&self, limit: u32) {
        let waiters = {
            let mut g = self.lock();
            g.limit = limit.max(1) as usize;
            g.waiters.clone()
        };
        waiters.iter().for_each(|w| w.do_send(SlotFreed));
    }

    pub fn subscribe(&self, r: Recipient<SlotFreed>) {
        self.lock().waiters.push(r);
    }

    pub fn try_acquire(&self, host: &str) -> bool {
        let mut g = self.lock();
        let limit = g.limit;
        let n = g.busy.entry(host.to_string()).or_insert(0);
        if *n < limit {
            *n += 1;
            true
        } else {
            false
        }
    }

    pub fn release(&self, host: &str) {
        let waiters = {
            let mut g = self.lock();
            if let Some(n) = g.busy.get_mut(host) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    g.busy.remove(host);
                }
            }
            g.waiters.clone()
        };
        waiters.iter().for_each(|w| w.do_send(SlotFreed));
    }
}
