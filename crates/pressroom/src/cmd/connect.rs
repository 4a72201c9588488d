//! `pressroom accounts connect PLATFORM`: the OAuth authorization-code flow from a terminal.
//! Prints the authorize URL, then receives the browser's redirect on a loopback port — or, on
//! a headless server, reads the redirect URL the user pastes — and stores the accounts the
//! consent grants, tokens sealed with the keyring. The platform-specific step after the code
//! (Meta's long-lived exchange and Page tokens) lives in each connector crate.

use std::time::Duration;

use anyhow::{Context, bail};
use pressroom_api::connect::{ConnectFlows, GrantedAccount};
use pressroom_connector::OAuthSpec;
use pressroom_connector::oauth::{self, LoopbackReceiver, OAuthApp, PendingAuthorization};
use pressroom_store::repo::workspaces;
use secrecy::SecretString;

use crate::app;
use crate::config::Settings;
use crate::tokens::{KeyringCipher, load_keyring};
use pressroom_scheduler::{NewAccount, save_account};

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

/// A platform's connect flow: what to authorize and what to do with the code.
enum Flow {
    #[cfg(feature = "facebook")]
    Facebook(Box<connector_facebook::FacebookConnector>),
    #[cfg(feature = "instagram")]
    InstagramViaFacebook {
        instagram: Box<connector_instagram::InstagramConnector>,
        facebook: Box<connector_facebook::FacebookConnector>,
    },
    #[cfg(feature = "instagram")]
    InstagramLogin(Box<connector_instagram::InstagramConnector>),
}

fn flow_for(settings: &Settings, platform: &str) -> anyhow::Result<Flow> {
    let c = &settings.connectors;
    match platform {
        #[cfg(feature = "facebook")]
        "facebook" => {
            let cfg = c
                .facebook
                .clone()
                .context("connectors.facebook: not configured (set app_id and app_secret first)")?;
            Ok(Flow::Facebook(Box::new(
                connector_facebook::FacebookConnector::new(cfg)
                    .context("connectors.facebook")?,
            )))
        }
        #[cfg(feature = "instagram")]
        "instagram" => {
            let cfg = c.instagram.clone().context(
                "connectors.instagram: not configured (set app_id and app_secret first)",
            )?;
            let instagram = connector_instagram::InstagramConnector::new(cfg.clone())
                .context("connectors.instagram")?;
            if cfg.login == connector_instagram::Login::Instagram {
                return Ok(Flow::InstagramLogin(Box::new(instagram)));
            }
            #[cfg(feature = "facebook")]
            {
                // Facebook Login: the same Meta app on the same Graph host hands out the
                // Page tokens that Instagram publishing uses.
                let mut fb = connector_facebook::FacebookConfig::new(
                    cfg.app_id.clone(),
                    cfg.app_secret.clone(),
                );
                fb.graph_base_url = cfg.facebook_graph_base_url.clone();
                fb.dialog_base_url = cfg.dialog_base_url.clone();
                fb.api_version = cfg.api_version.clone();
                let facebook = connector_facebook::FacebookConnector::new(fb)
                    .context("connectors.instagram")?;
                Ok(Flow::InstagramViaFacebook {
                    instagram: Box::new(instagram),
                    facebook: Box::new(facebook),
                })
            }
            #[cfg(not(feature = "facebook"))]
            bail!("instagram with Facebook Login needs the facebook feature in this build")
        }
        other => bail!(
            "{other:?}: `accounts connect` supports facebook and instagram in this build; for other platforms use `pressroom accounts import` with tokens from the platform's developer console"
        ),
    }
}

impl Flow {
    fn authorize(&self, redirect_uri: &str) -> anyhow::Result<PendingAuthorization> {
        let (spec, app) = self.spec_and_app(redirect_uri)?;
        Ok(oauth::authorize(&spec, &app)?)
    }

    fn spec_and_app(&self, redirect_uri: &str) -> anyhow::Result<(OAuthSpec, OAuthApp)> {
        use pressroom_connector::Connector;
        Ok(match self {
            #[cfg(feature = "facebook")]
            Flow::Facebook(fb) => (fb.oauth_spec(), fb.oauth_app(redirect_uri)),
            #[cfg(feature = "instagram")]
            Flow::InstagramViaFacebook {
                instagram,
                facebook,
            } => (
                instagram.oauth().context("instagram: no OAuth spec")?,
                facebook.oauth_app(redirect_uri),
            ),
            #[cfg(feature = "instagram")]
            Flow::InstagramLogin(ig) => {
                let cfg = ig.config();
                let mut app = OAuthApp::new(
                    cfg.app_id.clone(),
                    Some(cfg.app_secret.clone()),
                    redirect_uri,
                );
                app.scope_delimiter = ",".into();
                app.credentials_in_body = true;
                (ig.oauth().context("instagram: no OAuth spec")?, app)
            }
        })
    }

    async fn finish(&self, redirect_uri: &str, code: &str) -> anyhow::Result<Vec<GrantedAccount>> {
        Ok(match self {
            #[cfg(feature = "facebook")]
            Flow::Facebook(fb) => fb
                .connect(redirect_uri, code)
                .await?
                .into_iter()
                .map(|p| GrantedAccount {
                    display: p.name,
                    external_id: p.page_id,
                    credentials: p.credentials,
                })
                .collect(),
            #[cfg(feature = "instagram")]
            Flow::InstagramViaFacebook { facebook, .. } => facebook
                .connect(redirect_uri, code)
                .await?
                .into_iter()
                .filter_map(|p| {
                    let ig = p.instagram_business_account?;
                    let user_token = p.credentials.refresh_token.clone()?;
                    Some(GrantedAccount {
                        credentials: connector_instagram::InstagramConnector::credentials_for_page(
                            &ig,
                            &p.page_id,
                            p.credentials.access_token,
                            user_token,
                        ),
                        display: format!("Instagram of {}", p.name),
                        external_id: ig,
                    })
                })
                .collect(),
            #[cfg(feature = "instagram")]
            Flow::InstagramLogin(ig) => {
                let got = ig.connect_instagram_login(redirect_uri, code).await?;
                vec![GrantedAccount {
                    display: format!("Instagram {}", got.ig_user_id),
                    external_id: got.ig_user_id,
                    credentials: got.credentials,
                }]
            }
        })
    }
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
    let flow = flow_for(settings, &args.platform)?;
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
    let granted = flow.finish(&redirect_uri, &code).await?;
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
            platform: &args.platform,
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

/// The connect flows the control API offers (`POST /v1/accounts/connect`): the same code as
/// the CLI, built per call from the configuration.
pub struct ApiConnectFlows(pub Settings);

#[async_trait::async_trait]
impl ConnectFlows for ApiConnectFlows {
    fn platforms(&self) -> Vec<&'static str> {
        let c = &self.0.connectors;
        let mut out = Vec::new();
        #[cfg(feature = "facebook")]
        if c.facebook.is_some() {
            out.push("facebook");
        }
        #[cfg(feature = "instagram")]
        if c.instagram.is_some() {
            out.push("instagram");
        }
        let _ = c;
        out
    }

    fn authorize(
        &self,
        platform: &str,
        redirect_uri: &str,
    ) -> anyhow::Result<PendingAuthorization> {
        flow_for(&self.0, platform)?.authorize(redirect_uri)
    }

    async fn finish(
        &self,
        platform: &str,
        redirect_uri: &str,
        code: &str,
        _pkce_verifier: Option<&SecretString>,
    ) -> anyhow::Result<Vec<GrantedAccount>> {
        // Meta's flows do not use PKCE; the verifier is kept for platforms that will.
        flow_for(&self.0, platform)?
            .finish(redirect_uri, code)
            .await
    }
}
