//! `pressroom users add|list|remove|reset-password`: the people who sign in to the API (and,
//! later, the console) with an email and a password, each with a role per workspace. The first
//! owner of a fresh install is made here. Passwords are read from standard input
//! (`--password-stdin`), never from the command line, and stored as argon2id hashes only.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use pressroom_api::Role;
use pressroom_crypto::password;
use pressroom_store::Store;
use pressroom_store::repo::{people, workspaces};
use secrecy::{ExposeSecret, SecretString};

use crate::app;
use crate::config::Settings;

#[derive(clap::Subcommand)]
pub enum UsersCmd {
    /// Add a person to a workspace with a role (the user is created when the email is new;
    /// an existing member's role is replaced).
    Add {
        email: String,
        /// Workspace slug (created if it does not exist yet).
        #[arg(long)]
        workspace: String,
        /// owner, admin, editor, approver or viewer.
        #[arg(long)]
        role: String,
        /// The name shown for them (default: the part of the email before @).
        #[arg(long)]
        name: Option<String>,
        /// Read their password from standard input (one line). Without it a new user gets an
        /// invitation link (printed alone on the last line, valid 72 hours, used once) to set
        /// their own.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List a workspace's members.
    List {
        #[arg(long)]
        workspace: String,
    },
    /// Take a person out of a workspace (signed out everywhere when it was their last).
    Remove {
        email: String,
        #[arg(long)]
        workspace: String,
    },
    /// Set a new password, read from standard input; every session of theirs ends.
    ResetPassword {
        email: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

pub async fn run(settings: Settings, cmd: UsersCmd) -> anyhow::Result<ExitCode> {
    let opened = app::open_store(&settings, false).await?;
    let store = &opened.store;
    match cmd {
        UsersCmd::Add {
            email,
            workspace,
            role,
            name,
            password_stdin,
        } => {
            let role = workspace_role(&role)?;
            let email = checked_email(&email)?;
            // Read and hash before writing anything, so a bad password changes nothing.
            let hash = if password_stdin {
                Some(hash_from_stdin().await?)
            } else {
                None
            };
            let ws = workspaces::ensure(store, &workspace, &workspace).await?;
            let display = name
                .unwrap_or_else(|| email.split('@').next().unwrap_or(email.as_str()).to_owned());
            let added = pressroom_runtime::people::add_member(
                store,
                &ws.id,
                &email,
                &display,
                role.as_str(),
                hash.as_deref(),
                "cli",
            )
            .await?;
            let user = added.user;
            let invitation = added.invitation;
            println!(
                "{} is {} of workspace {}",
                user.email,
                role.as_str(),
                ws.slug
            );
            if let Some(token) = invitation {
                let link = format!(
                    "{}/invite/{}",
                    public_base(&settings),
                    token.expose_secret()
                );
                let mailer = pressroom_runtime::email::Mailer::from_config(
                    &settings.email.smtp_url,
                    &settings.email.from,
                )?;
                if let Some(mailer) = mailer {
                    // The user and the invitation are stored: a mail that fails is reported,
                    // and the link below still works.
                    match mailer
                        .send_invitation(&user.email, &ws.slug, role.as_str(), &link)
                        .await
                    {
                        Ok(()) => println!("invitation mailed to {}", user.email),
                        Err(e) => eprintln!("warning: the invitation mail was not sent: {e}"),
                    }
                }
                println!(
                    "invitation for {} (valid 72 hours, used once; accept with POST \
                     /v1/invitations/accept {{\"token\", \"password\"}}):",
                    user.email
                );
                println!("{link}");
            }
            Ok(ExitCode::SUCCESS)
        }
        UsersCmd::List { workspace } => {
            let ws = workspace_by_slug(store, &workspace).await?;
            let rows: Vec<Vec<String>> = people::members(store, &ws)
                .await?
                .into_iter()
                .map(|m| {
                    vec![
                        m.email,
                        m.display_name,
                        m.role,
                        if m.has_password {
                            "can sign in".into()
                        } else {
                            "no password".into()
                        },
                    ]
                })
                .collect();
            super::print_table(&["EMAIL", "NAME", "ROLE", "SIGN-IN"], &rows);
            Ok(ExitCode::SUCCESS)
        }
        UsersCmd::Remove { email, workspace } => {
            let ws = workspace_by_slug(store, &workspace).await?;
            let user = people::user_by_email(store, &email)
                .await?
                .with_context(|| format!("no user {email:?}"))?;
            use pressroom_runtime::people::{RemoveError, remove_member};
            match remove_member(store, &ws, &user.id, true, false, "cli").await {
                Ok(_) => {
                    println!("{} is no longer a member of {workspace}", user.email);
                    Ok(ExitCode::SUCCESS)
                }
                Err(RemoveError::NotAMember) => {
                    eprintln!("{} was not a member of {workspace}", user.email);
                    Ok(ExitCode::FAILURE)
                }
                Err(e @ RemoveError::LastOwner) => {
                    eprintln!("{}: {e}", user.email);
                    Ok(ExitCode::FAILURE)
                }
                Err(e) => Err(e.into()),
            }
        }
        UsersCmd::ResetPassword { email, .. } => {
            let user = people::user_by_email(store, &email)
                .await?
                .with_context(|| format!("no user {email:?}"))?;
            let hash = hash_from_stdin().await?;
            let now = store.now_ms().await?;
            people::set_password(store, store.conn(), now, &user.id, &hash).await?;
            println!("new password set for {}; their sessions ended", user.email);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Where people reach this daemon: `media.public_base_url`, else the API's own address.
fn public_base(settings: &Settings) -> String {
    let base = settings.media.public_base_url.trim_end_matches('/');
    if base.is_empty() {
        format!("http://{}", settings.api.bind)
    } else {
        base.to_owned()
    }
}

/// A role a person may hold in a workspace (instance admins are keys, not people).
fn workspace_role(s: &str) -> anyhow::Result<Role> {
    match Role::parse(s) {
        Some(Role::InstanceAdmin) | None => {
            anyhow::bail!("--role: {s:?} is not owner, admin, editor, approver or viewer")
        }
        Some(r) => Ok(r),
    }
}

/// A plausible email, normalized.
fn checked_email(email: &str) -> anyhow::Result<String> {
    pressroom_runtime::people::checked_email(email)
        .with_context(|| format!("EMAIL: {email:?} is not an email address"))
}

async fn workspace_by_slug(
    store: &Store,
    slug: &str,
) -> anyhow::Result<pressroom_core::WorkspaceId> {
    Ok(workspaces::by_slug(store, slug)
        .await?
        .with_context(|| format!("--workspace: no workspace {slug:?}"))?
        .id)
}

/// One line of standard input (the trailing newline dropped), checked and hashed.
async fn hash_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .take(password::MAX_PASSWORD_BYTES as u64 + 2)
        .read_to_string(&mut line)
        .context("reading the password from standard input")?;
    let line = line.lines().next().unwrap_or_default().to_owned();
    let secret = SecretString::from(line);
    password::check_new_password(&secret)?;
    tokio::task::spawn_blocking(move || password::hash_password(&secret))
        .await?
        .map_err(anyhow::Error::from)
}
