//! The scope gate: the scope in force right now, asked again just before a run starts.
//!
//! A scan's targets are checked when it is submitted, but it may wait in the scheduler's
//! queue, a run may wait in its tool's queue, and a reload (SIGHUP) may narrow the scope
//! meanwhile. The gate holds the scope of the configuration in force, swapped whole by the
//! reload, and answers for one run target at the moment it is asked; the supervisor asks
//! before a run is dispatched (cache included), the ToolActor before each process start.
//! Must not resolve names (run targets carry checked addresses) nor start anything.

use std::sync::{Arc, RwLock};

use crate::config::ScopeConfig;
use crate::run::spec::RunTarget;
use crate::scope::{Scope, ScopeError};

/// A run the scope in force refused when it was due to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not started: the scope in force now refuses it (the configuration was reloaded after \
     the scan was accepted): {0}"
)]
pub struct Refused(pub ScopeError);

pub struct ScopeGate {
    scope: RwLock<Arc<Scope>>,
}

impl ScopeGate {
    pub fn new(scope: Arc<Scope>) -> Self {
        Self {
            scope: RwLock::new(scope),
        }
    }

    /// The gate of a configuration's `[scope]`, or the rule that does not parse.
    pub fn from_config(cfg: &ScopeConfig) -> Result<Self, ScopeError> {
        Ok(Self::new(Arc::new(Scope::from_config(cfg)?)))
    }

    /// Installs the scope of a reloaded configuration; runs asked about after this get it.
    pub fn set(&self, scope: Arc<Scope>) {
        *self.scope.write().unwrap_or_else(|p| p.into_inner()) = scope;
    }

    /// The scope in force now.
    pub fn current(&self) -> Arc<Scope> {
        self.scope.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether `target` may be started now. Its host is a checked address or a CIDR, so
    /// this parses it and applies the rules without a lookup; the name the user gave, when
    /// there is one, is held against the name deny rules (it is not looked up again: the
    /// tool connects to the checked address whatever the name answers now).
    pub async fn admit(&self, target: &RunTarget) -> Result<(), Refused> {
        let scope = self.current();
        if let Some(name) = &target.name {
            scope.check_name_rules(name).map_err(Refused)?;
        }
        scope.check(&target.host).await.map(|_| ()).map_err(Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_narrowed_scope_refuses_from_the_next_question_on_naming_the_rule() {
        let gate = ScopeGate::from_config(&ScopeConfig::default()).unwrap();
        let (one, net) = (
            RunTarget::service("127.0.0.5", 80, Some("http")),
            RunTarget::host("127.0.0.0/24", None),
        );
        assert_eq!(gate.admit(&one).await, Ok(()));
        assert_eq!(gate.admit(&net).await, Ok(()));
        let narrowed = ScopeConfig {
            deny: vec!["127.0.0.5".into()],
            ..ScopeConfig::default()
        };
        gate.set(Arc::new(Scope::from_config(&narrowed).unwrap()));
        for t in [&one, &net] {
            let refused = gate.admit(t).await.unwrap_err();
            assert!(
                matches!(&refused.0, ScopeError::Denied { rule, .. } if rule == "127.0.0.5/32"),
                "{refused:?}"
            );
            assert!(
                refused.to_string().contains("denied by scope rule"),
                "{refused}"
            );
        }
        assert_eq!(
            gate.admit(&RunTarget::host("127.0.0.6", None)).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn a_name_denied_by_a_reload_stops_its_runs_without_a_new_lookup() {
        let gate = ScopeGate::from_config(&ScopeConfig::default()).unwrap();
        let named = RunTarget::service("127.0.0.1", 80, Some("http")).named(Some("intranet.test"));
        assert_eq!(gate.admit(&named).await, Ok(()));
        let narrowed = ScopeConfig {
            deny: vec!["intranet.test".into()],
            ..ScopeConfig::default()
        };
        gate.set(Arc::new(Scope::from_config(&narrowed).unwrap()));
        let refused = gate.admit(&named).await.unwrap_err();
        assert!(
            matches!(&refused.0, ScopeError::Denied { rule, .. } if rule == "intranet.test"),
            "{refused:?}"
        );
        let unnamed = RunTarget::service("127.0.0.1", 80, Some("http"));
        assert_eq!(gate.admit(&unnamed).await, Ok(()));
    }
}
