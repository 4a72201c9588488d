//! The runtime side of `PublishCtx::save_checkpoint`: what a connector records mid-commit
//! (TikTok's `publish_id`) goes to the attempt row at once, fenced by the job's lease, so a
//! reconcile after a crash or restart can ask the platform about it; what it records mid-prepare
//! (Snapchat's uploaded media) lets the next try go on from the step that failed.

use std::sync::Arc;

use pressroom_connector::{CheckpointStore, Checkpointer, ConnectorError, PublishCtx};
use pressroom_core::{AttemptId, AttemptState};
use pressroom_store::entity::attempt;
use pressroom_store::repo::posts;
use pressroom_store::{ClaimedJob, Store};

/// Writes one attempt's checkpoint while it stays in `state`.
struct AttemptCheckpoints {
    store: Store,
    attempt_id: AttemptId,
    state: AttemptState,
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
        posts::save_checkpoint(
            &self.store,
            self.store.conn(),
            now,
            &self.attempt_id,
            self.state,
            &self.job,
            checkpoint,
        )
        .await
        .map_err(ConnectorError::transient)
    }
}

/// `ctx` with a checkpointer writing to `attempt`'s row under `job`'s lease, while the attempt
/// is in `state`.
pub(super) fn attach(
    store: &Store,
    job: &ClaimedJob,
    attempt: &attempt::Model,
    state: AttemptState,
    ctx: &PublishCtx,
) -> PublishCtx {
    let mut ctx = ctx.clone();
    ctx.checkpointer = Some(Checkpointer::new(Arc::new(AttemptCheckpoints {
        store: store.clone(),
        attempt_id: attempt.id.clone(),
        state,
        job: job.clone(),
    })));
    ctx
}
