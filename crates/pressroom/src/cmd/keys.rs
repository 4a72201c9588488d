//! `pressroom keys create`: mints an API key from the command line — how the first key of a
//! workspace (or an instance-admin key) comes to exist before anyone can call the API.
//! `pressroom keys rotate`: rotates the token keyring (same as `pressroom keyring rotate`).

use std::process::ExitCode;

use pressroom_api::Role;
use pressroom_store::repo::workspaces;

use crate::app;
use crate::config::Settings;

#[derive(clap::Subcommand)]
pub enum KeysCmd {
    /// Create an API key. It is printed once, alone on the last line; only its hash is kept.
    Create {
        /// Workspace slug (created if it does not exist yet). Omit for --role instance_admin.
        #[arg(long)]
        workspace: Option<String>,
        /// owner, admin, editor, approver, viewer or instance_admin.
        #[arg(long)]
        role: String,
        /// A label shown in key listings.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Rotate the token keyring (same as `keyring rotate`): a new active key, every stored
    /// token and webhook secret re-sealed with it, in passes until none is left under an older
    /// key; older keys stay in the file, decrypt-only.
    Rotate,
}

pub async fn run(settings: Settings, cmd: KeysCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCmd::Rotate => {
            super::keyring::rotate(&settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        KeysCmd::Create {
            workspace,
            role,
            name,
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                anyhow::anyhow!(
                    "--role: {role:?} is not owner, admin, editor, approver, viewer or instance_admin"
                )
            })?;
            let opened = app::open_store(&settings, false).await?;
            let ws = match (role, workspace) {
                (Role::InstanceAdmin, None) => None,
                (Role::InstanceAdmin, Some(_)) => {
                    anyhow::bail!("--workspace: instance_admin keys belong to no workspace")
                }
                (_, None) => anyhow::bail!("--workspace: required for a {} key", role.as_str()),
                (_, Some(slug)) => Some(workspaces::ensure(&opened.store, &slug, &slug).await?),
            };
            let created = pressroom_api::handlers::keys::mint_key(
                &opened.store,
                ws.as_ref().map(|w| &w.id),
                role,
                &name,
                "cli",
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            match &ws {
                Some(w) => println!(
                    "Created {} key {} for workspace {} (shown once; store it now):",
                    role.as_str(),
                    created.row.id,
                    w.slug
                ),
                None => println!(
                    "Created instance_admin key {} (shown once; store it now):",
                    created.row.id
                ),
            }
            println!("{}", created.key);
            Ok(ExitCode::SUCCESS)
        }
    }
}
