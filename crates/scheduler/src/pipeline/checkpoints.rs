//! The runtime side of `PublishCtx::save_checkpoint`: what a connector records mid-commit
//! (TikTok's `publish_id`) goes to the attempt row at once, fenced by the job's lease, so a
//! reconcile after a crash or restart can ask the platform about it.

use std::sync::Arc;

use pressroom_connector::{CheckpointStore, Checkpointer, ConnectorError, PublishCtx};
use pressroom_store::entity::attempt;
use pressroom_store::repo::posts;
use pressroom_store::{ClaimedJob, Store};

/// Writes one attempt's checkpoint while it is `committing`.
struct AttemptCheckpoints {
    store: Store,
    attempt_id: String,
    job: ClaimedJob,
}

#[async_trait::async_trait]
impl CheckpointStore for AttemptCheckpoints {
    async fn save(&self, checkpoint: &serde_json::Value) -> Result<(), ConnectorError> {
        let now = self
            .store
            .now_ms()
            .await
            .map_err(ConnectorError::transient)?;
        posts::save_commit_checkpoint(
            &self.store,
            self.store.conn(),
            now,
            &self.attempt_id,
            &self.job,
            checkpoint,
        )
        .await
        .map_err(ConnectorError::transient)
    }
}

/// `ctx` with a checkpointer writing to `attempt`'s row under `job`'s lease.
pub(super) fn attach(
    store: &Store,
    job: &ClaimedJob,
    attempt: &attempt::Model,
    ctx: &PublishCtx,
) -> PublishCtx {
    let mut ctx = ctx.clone();
    ctx.checkpointer = Some(Checkpointer::new(Arc::new(AttemptCheckpoints {
        store: store.clone(),
        attempt_id: attempt.id.clone(),
        job: job.clone(),
    })));
    ctx
}
