//! Checking and saving a campaign: the one path that the CLI (`campaign validate`, `campaign
//! load`, `serve` loading its campaign directory) and the API (`POST /v1/campaigns`, `validate`)
//! share, so a file the CLI accepts is a body the API accepts and both store it the same way;
//! and firing one now ([`trigger`]: `campaign trigger`, the demo, `POST
//! /v1/campaigns/{id}/trigger`, the inbound webhooks), deduplicated on its fire key.

use pressroom_core::Platform;
use pressroom_core::campaign::{
    BACKENDS, CampaignSpec, SpecIssue, TargetSpec, ValidationContext, validate_captions,
    validate_references, validate_target_features,
};
use pressroom_core::{RunId, WorkspaceId};
use pressroom_media::Presets;
use pressroom_store::Queue;
use pressroom_store::entity::campaign;
use pressroom_store::repo::{accounts, audit, campaigns, runs};

/// A stored campaign's typed spec (parsed once, at save; the scheduler reads it too).
pub use pressroom_scheduler::fire::stored_spec;
use pressroom_store::{Store, StoreError};

/// The accounts a campaign's targets may name: (name, platform) of each account of the
/// workspace, or `None` to leave account references unchecked (no database at hand).
pub type KnownAccounts = Option<Vec<(String, String)>>;

/// (name, platform) of the workspace's accounts.
pub async fn known_accounts(
    store: &Store,
    workspace_id: &WorkspaceId,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(accounts::list(store, workspace_id)
        .await?
        .into_iter()
        .map(|a| (a.name, a.platform.to_string()))
        .collect())
}

/// Checks a parsed campaign's references (accounts, presets, backends) and its caption,
/// rendered with the `[variables]` defaults, against each target's platform rules (the
/// account's platform when known, else the preset's; the publish worker checks the real
/// caption again). Issues point into `source`, named `file`.
pub fn check_spec(
    spec: &CampaignSpec,
    source: &str,
    file: &str,
    accounts: &KnownAccounts,
    presets: &Presets,
) -> Vec<SpecIssue> {
    let known = accounts.as_deref().unwrap_or_default();
    let accounts_fn = |name: &str| accounts.is_none() || known.iter().any(|(a, _)| a == name);
    let presets_fn = |name: &str| presets.get(name).is_some();
    let backends_fn = |name: &str| BACKENDS.contains(&name);
    let ctx = ValidationContext {
        known_accounts: &accounts_fn,
        known_presets: &presets_fn,
        known_backends: &backends_fn,
    };
    let mut issues = validate_references(spec, source, file, &ctx);
    let platform_name = |target: &TargetSpec| {
        known
            .iter()
            .find(|(name, _)| *name == target.account)
            .map(|(_, platform)| platform.clone())
            .or_else(|| presets.get(&target.preset).map(|p| p.platform.clone()))
    };
    let captions_fn = |target: &TargetSpec, caption: &str| {
        platform_name(target)
            .map(|p| pressroom_media::caption_problems(&p, caption))
            .unwrap_or_default()
    };
    issues.extend(validate_captions(
        spec,
        source,
        file,
        &platform_name,
        &captions_fn,
    ));
    let platform_of = |target: &TargetSpec| platform_name(target).and_then(|p| Platform::parse(&p));
    issues.extend(validate_target_features(spec, source, file, &platform_of));
    issues
}

/// Where a saved campaign came from, for its row and the audit log.
pub struct Origin<'a> {
    /// Who saved it: "cli", or the API key's actor.
    pub actor: &'a str,
    /// The file it was read from (the CLI), or none (an API body).
    pub source_file: Option<&'a str>,
    /// The audit entry's detail.
    pub detail: serde_json::Value,
}

/// Stores a checked campaign in its workspace (created or updated by name) with an audit
/// entry, in one transaction.
pub async fn save(
    store: &Store,
    workspace_id: &WorkspaceId,
    spec: &CampaignSpec,
    source: &str,
    origin: Origin<'_>,
) -> Result<campaign::Model, StoreError> {
    let spec_json = serde_json::to_value(spec)
        .map_err(|e| StoreError::Corrupt(format!("campaign {}: {e}", spec.name)))?;
    let now = store.now_ms().await?;
    let tx = store.begin().await?;
    let row = campaigns::upsert(
        &tx,
        now,
        campaigns::CampaignInput {
            workspace_id,
            name: &spec.name,
            source,
            source_file: origin.source_file,
            spec: spec_json,
        },
    )
    .await?;
    audit::record(
        &tx,
        now,
        workspace_id,
        origin.actor,
        "campaign.saved",
        &row.id,
        origin.detail,
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// How a campaign was fired by hand.
pub struct Fire<'a> {
    /// What fired it, kept on the run: "cli", "api" or "webhook".
    pub trigger: &'a str,
    /// Deduplicates: a webhook's delivery id, an idempotency key or a fresh id. A key that
    /// already fired finds the run it created instead of creating another.
    pub fire_key: &'a str,
    /// The template variables the run renders with.
    pub variables: &'a serde_json::Value,
}

/// The run a fire created or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Triggered {
    pub run_id: RunId,
    /// False when this fire key had already fired (a retried request): the existing run.
    pub created: bool,
}

/// Why a campaign could not be fired.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The stored campaign no longer parses (an older version stored it).
    #[error(transparent)]
    Spec(anyhow::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The fire key's run was found inserted and then gone (deleted in between).
    #[error("the run of fire key {0:?} vanished")]
    Vanished(String),
}

/// Fires a stored campaign now: inserts its run and enqueues the run's generate job in one
/// transaction (the scheduler's one path that creates runs), or finds the run an earlier
/// fire with the same key created.
pub async fn trigger(
    store: &Store,
    queue: &Queue,
    row: &campaign::Model,
    fire: Fire<'_>,
) -> Result<Triggered, TriggerError> {
    let inserted = pressroom_scheduler::trigger_now(
        store,
        queue,
        row,
        fire.trigger,
        fire.fire_key,
        fire.variables,
    )
    .await
    .map_err(|e| match e.downcast::<StoreError>() {
        Ok(store) => TriggerError::Store(store),
        Err(other) => TriggerError::Spec(other),
    })?;
    if let Some(run_id) = inserted {
        return Ok(Triggered {
            run_id,
            created: true,
        });
    }
    let existing = runs::by_fire_key(store.conn(), &row.workspace_id, &row.id, fire.fire_key)
        .await?
        .ok_or_else(|| TriggerError::Vanished(fire.fire_key.to_string()))?;
    Ok(Triggered {
        run_id: existing.id,
        created: false,
    })
}
