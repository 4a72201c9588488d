//! The engine's waiting room: one FIFO per tenant (workspace), served round-robin, so one
//! tenant's burst cannot starve the others; bounded in total so callers hear "busy" instead of
//! queueing without end.

use std::collections::{HashMap, VecDeque};

use super::EngineRequest;
use crate::pipeline::BatchParams;

#[derive(Default)]
pub(crate) struct FairQueue {
    by_tenant: HashMap<String, VecDeque<EngineRequest>>,
    /// Tenants with waiting requests; the front one is served next.
    turn: VecDeque<String>,
    len: usize,
    /// Set once the engine shuts down: nothing more is accepted.
    pub(crate) closed: bool,
}

impl FairQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, req: EngineRequest) {
        let queue = self.by_tenant.entry(req.tenant.clone()).or_default();
        if queue.is_empty() {
            self.turn.push_back(req.tenant.clone());
        }
        queue.push_back(req);
        self.len += 1;
    }

    /// The oldest request of the tenant whose turn it is; that tenant then goes to the back.
    pub(crate) fn pop_next(&mut self) -> Option<EngineRequest> {
        let tenant = self.turn.pop_front()?;
        let queue = self.by_tenant.get_mut(&tenant)?;
        let req = queue.pop_front();
        if queue.is_empty() {
            self.by_tenant.remove(&tenant);
        } else {
            self.turn.push_back(tenant);
        }
        if req.is_some() {
            self.len -= 1;
        }
        req
    }

    /// Up to `max` waiting requests that can join a batch with `key`, one per tenant per
    /// round in turn order (batching must not let one tenant jump the others' queues).
    pub(crate) fn take_compatible(
        &mut self,
        key: &(BatchParams, bool),
        max: usize,
    ) -> Vec<EngineRequest> {
        let mut out = Vec::new();
        loop {
            let before = out.len();
            for tenant in &self.turn {
                if out.len() >= max {
                    break;
                }
                if let Some(queue) = self.by_tenant.get_mut(tenant)
                    && let Some(i) = queue.iter().position(|r| &r.batch_key() == key)
                    && let Some(r) = queue.remove(i)
                {
                    out.push(r);
                }
            }
            if out.len() == before || out.len() >= max {
                break;
            }
        }
        self.len -= out.len();
        self.forget_empty();
        out
    }

    /// Removes every request whose caller has cancelled it (answered by the engine thread).
    pub(crate) fn take_cancelled(&mut self) -> Vec<EngineRequest> {
        let mut out = Vec::new();
        for queue in self.by_tenant.values_mut() {
            let mut i = 0;
            while i < queue.len() {
                if queue[i].cancel.is_cancelled()
                    && let Some(r) = queue.remove(i)
                {
                    out.push(r);
                } else {
                    i += 1;
                }
            }
        }
        self.len -= out.len();
        self.forget_empty();
        out
    }

    /// Everything still waiting (at shutdown).
    pub(crate) fn drain(&mut self) -> Vec<EngineRequest> {
        let mut out = Vec::new();
        while let Some(r) = self.pop_next() {
            out.push(r);
        }
        out
    }

    fn forget_empty(&mut self) {
        self.by_tenant.retain(|_, q| !q.is_empty());
        let by_tenant = &self.by_tenant;
        self.turn.retain(|t| by_tenant.contains_key(t));
    }
}
