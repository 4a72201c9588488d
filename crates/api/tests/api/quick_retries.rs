//! A transient failure of a publish step that is safe to repeat (prepare, reconcile) is tried
//! again within the same claim, twice, before the job goes back to the queue (where, under
//! load, it would wait behind every post due before its retry): three failed prepares cost the
//! post one trip through the queue, not three.

use std::sync::Arc;

use connector_sandbox::{FailureKind, Phase, SandboxConfig, ScriptedFailure};
use pressroom_core::JobState;

use crate::harness::{FakeGenerator, TestApp};
use crate::pipeline_fixture::{SandboxWorld, sandbox_world, wait_published, with_workers};

pub async fn safe_steps_are_retried_within_the_claim(app: TestApp) -> anyhow::Result<()> {
    let SandboxWorld {
        workspace_id: ws,
        cipher,
        campaign,
    } = sandbox_world(&app, "qr", "quick").await?;
    let dir = tempfile::tempdir()?;
    let mut sandbox = SandboxConfig::new(dir.path().join("outbox"));
    sandbox.failures = vec![ScriptedFailure {
        phase: Phase::Prepare,
        kind: FailureKind::Transient,
        times: 3,
        retry_after_secs: 0,
    }];
    with_workers(&app, &cipher, Arc::new(FakeGenerator), sandbox, || async {
        app.fire(&campaign, "q-1").await?;
        wait_published(&app, &ws, 1).await
    })
    .await?;
    let done = app.queue.list(JobState::Completed, Some(&ws), 50).await?;
    let publish: Vec<_> = done.iter().filter(|j| j.kind == "publish").collect();
    assert_eq!(publish.len(), 1, "{done:?}");
    // Failures 1 and 2 were retried at once; the third sent the job back to the queue once.
    assert_eq!(
        publish[0].attempt, 2,
        "claims of the publish job: {publish:?}"
    );
    Ok(())
}

on_both_backends!(safe_steps_are_retried_within_the_claim);
