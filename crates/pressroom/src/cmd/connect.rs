//! `pressroom accounts connect PLATFORM`: the OAuth authorization-code flow from a terminal.
//! Prints the authorize URL, then receives the browser's redirect on a loopback port — or, on
//! a headless server, reads the redirect URL the user pastes — and stores the accounts the
//! consent grants, tokens sealed with the keyring. The platform's steps (authorize endpoints,
//! code exchange, Meta's long-lived token and Page tokens) are its connector's
//! `Connector::connect_flow`, found in the one registry `app::connectors` builds.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use pressroom_connector::Connector;
use pressroom_connector::oauth::{self, LoopbackReceiver};
use pressroom_store::repo::workspaces;

use crate::app;
use crate::config::Settings;
use crate::tokens::{KeyringCipher, load_keyring};
use pressroom_runtime::{NewAccount, save_account};

/// How the redirect comes back.
pub struct ConnectArgs {
    pub platform: String,
    pub workspace: String,
    /// Loopback port (0: any free port).
    pub port: u16,
    /// Read the redirect URL from stdin instead of listening.
    pub paste: bool,
    /// The redirect URI registered with the app, for `paste` mode.
    pub redirect_uri: String,
    /// Stored account name (one account) or prefix (several).
    pub name: Option<String>,
    pub timeout: Duration,
}

/// `platform`'s connector, from the one registry of this binary's configured connectors, if
/// it offers a connect flow.
fn connector_for(settings: &Settings, platform: &str) -> anyhow::Result<Arc<dyn Connector>> {
    let connector = app::connectors(settings)?.get(platform).with_context(|| {
        format!("connectors.{platform}: not configured in this build (set it up first: app_id and app_secret, or client_id and client_secret)")
    })?;
    if connector.connect_flow().is_none() {
        bail!(
            "{platform:?}: `accounts connect` has no OAuth flow for it in this build; use `pressroom accounts import` with tokens from the platform's developer console"
        );
    }
    Ok(connector)
}

/// Reads one line from stdin without blocking the runtime.
async fn read_line() -> anyhow::Result<String> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .context("reading stdin")?
    .context("reading stdin")
}

pub async fn run(settings: &Settings, args: ConnectArgs) -> anyhow::Result<()> {
    let connector = connector_for(settings, &args.platform)?;
    let flow = connector
        .connect_flow()
        .context("the connector's connect flow")?;
    // Check the keyring before sending anyone to a consent screen.
    let cipher = KeyringCipher(load_keyring(settings, false)?);
    let (redirect_uri, receiver) = if args.paste {
        (args.redirect_uri.clone(), None)
    } else {
        let r = LoopbackReceiver::bind(args.port, "/callback")
            .await
            .with_context(|| format!("--port {}: cannot listen on 127.0.0.1", args.port))?;
        (r.redirect_uri().to_owned(), Some(r))
    };
    let pending = flow.authorize(&redirect_uri)?;
    println!("Open this URL in a browser and approve access:");
    println!("{}", pending.url);
    let code = match receiver {
        Some(r) => {
            println!("Waiting for the redirect on {redirect_uri} …");
            r.wait(&pending.state, args.timeout).await?
        }
        None => {
            println!("Then paste the URL the browser was redirected to ({redirect_uri}…):");
            let line = read_line().await?;
            oauth::parse_redirect(line.trim(), &pending.state)?
        }
    };
    // The CLI's flows take no PKCE verifier (Meta's do not use PKCE).
    let granted = flow.finish(&redirect_uri, &code, None).await?;
    if granted.is_empty() {
        bail!(
            "{}: the consent granted no account we can publish to (no Page, or no Instagram professional account linked to one)",
            args.platform
        );
    }
    let opened = app::open_store(settings, false).await?;
    let store = &opened.store;
    let ws = workspaces::ensure(store, &args.workspace, &args.workspace).await?;
    let now = store.now_ms().await?;
    let tx = store.begin().await?;
    let mut stored = Vec::new();
    for g in &granted {
        let name = match (&args.name, granted.len()) {
            (Some(n), 1) => n.clone(),
            (Some(n), _) => format!("{n}-{}", g.external_id),
            (None, _) => format!("{}-{}", args.platform, g.external_id),
        };
        let new = NewAccount {
            platform: args
                .platform
                .parse()
                .with_context(|| format!("--platform {:?}: not a platform", args.platform))?,
            name: &name,
            external_id: &g.external_id,
            credentials: &g.credentials,
        };
        save_account(
            store,
            &tx,
            &cipher,
            &ws.id,
            now,
            &new,
            "cli",
            "account.connected",
        )
        .await?;
        stored.push(vec![name, g.external_id.clone(), g.display.clone()]);
    }
    tx.commit().await?;
    println!(
        "Connected {} {} account(s) in workspace {:?}:",
        stored.len(),
        args.platform,
        args.workspace
    );
    super::print_table(&["NAME", "EXTERNAL ID", "DISPLAY NAME"], &stored);
    Ok(())
}
