use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Connector;

/// The connectors this binary was built with, by platform name. Built explicitly at start-up.
#[derive(Clone, Default)]
pub struct Registry {
    by_kind: BTreeMap<&'static str, Arc<dyn Connector>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a connector; a later one of the same kind replaces the earlier.
    pub fn with(mut self, connector: impl Connector) -> Self {
        self.by_kind
            .insert(connector.platform().as_str(), Arc::new(connector));
        self
    }

    /// Adds an already shared connector.
    pub fn with_arc(mut self, connector: Arc<dyn Connector>) -> Self {
        self.by_kind
            .insert(connector.platform().as_str(), connector);
        self
    }

    pub fn get(&self, kind: &str) -> Option<Arc<dyn Connector>> {
        self.by_kind.get(kind).cloned()
    }

    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_kind.keys().copied()
    }
}
