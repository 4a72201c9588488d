//! The real daemon publishing to the Facebook and Instagram fakes: accounts imported with
//! tokens that expire mid-run, the fakes injecting 10 % 5xx and 5 % 429, Instagram pulling
//! each image from the daemon's signed media links. Every target is published exactly once,
//! with the rendition of its preset; the tokens were refreshed; no token is stored or logged
//! in plaintext.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use connector_facebook::fake::FakeFacebook;
use connector_instagram::fake::FakeInstagram;
use pressroom_connector::testkit::{Account, FakeControls};
use pressroom_e2e::{Db, TestApp, terminate};
use pressroom_store::entity::account;
use pressroom_store::sea_orm::EntityTrait;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// A port nobody listens on right now (bound, then released).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn import_entry(platform: &str, name: &str, a: &Account, expires_in: Option<i64>) -> Value {
    let c = &a.credentials;
    json!({
        "platform": platform,
        "name": name,
        "external_id": a.account.external_id,
        "access_token": c.access_token.expose_secret(),
        "refresh_token": c.refresh_token.as_ref().map(|t| t.expose_secret().to_string()),
        "expires_at": expires_in.map(|s| (chrono::Utc::now() + chrono::Duration::seconds(s)).to_rfc3339()),
        "extra": c.extra,
    })
}

const CAMPAIGN: &str = r#"name = "spring"
workspace = "acme"

[schedule]
webhook = true

[generation]
prompt = "a {{ product }} on a linen table"
steps = 2
width = 64
height = 64
seed = 7

[caption]
template = "Meet the {{ product }} #spring"

[variables]
product = "tote"

[[targets]]
account = "fb-1"
preset = "facebook-feed"

[[targets]]
account = "fb-2"
preset = "facebook-square"

[[targets]]
account = "ig-1"
preset = "instagram-square"

[[targets]]
account = "ig-2"
preset = "instagram-portrait"
"#;

/// `posts list --json` once every post of `expected` is final (published or failed).
fn wait_for_posts(app: &TestApp, expected: usize, timeout: Duration) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + timeout;
    loop {
        let out = app.run(&["posts", "list", "--workspace", "acme", "--json"])?;
        let posts: Vec<Value> = serde_json::from_str(&out)?;
        let done = posts
            .iter()
            .filter(|p| p["state"] == "published" || p["state"] == "failed")
            .count();
        if posts.len() == expected && done == expected {
            return Ok(posts);
        }
        if Instant::now() > deadline {
            bail!(
                "{done} of {expected} posts final after {timeout:?}:\n{}\n{}",
                serde_json::to_string_pretty(&posts)?,
                app.dump_logs(60)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

async fn sealed_tokens(app: &TestApp) -> anyhow::Result<BTreeMap<String, Option<String>>> {
    let store = app.store().await?;
    let rows = account::Entity::find().all(store.conn()).await?;
    Ok(rows
        .into_iter()
        .map(|a| (a.name, a.access_token_sealed))
        .collect())
}

#[test]
fn facebook_and_instagram_through_the_daemon_publish_each_target_once() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fb = rt.block_on(FakeFacebook::start())?;
    let ig = rt.block_on(FakeInstagram::start())?;
    let fb_accounts = [
        rt.block_on(fb.connect_account()),
        rt.block_on(fb.connect_account()),
    ];
    let ig_accounts = [
        rt.block_on(ig.connect_account()),
        rt.block_on(ig.connect_account()),
    ];
    let port = free_port()?;
    let fbc = fb.config();
    let igc = ig.config();
    let extra = format!(
        r#"[retry]
max_attempts = 30
base_ms = 50
cap_ms = 500

[api]
bind = "127.0.0.1:{port}"

[media]
public_base_url = "http://127.0.0.1:{port}"

[connectors.facebook]
graph_base_url = "{fb_graph}"
dialog_base_url = "{fb_graph}"
app_id = "{fb_id}"
app_secret = "{fb_secret}"
request_timeout_secs = 2

[connectors.instagram]
facebook_graph_base_url = "{ig_graph}"
instagram_graph_base_url = "{ig_graph}"
dialog_base_url = "{ig_graph}"
instagram_api_base_url = "{ig_graph}"
app_id = "{ig_id}"
app_secret = "{ig_secret}"
request_timeout_secs = 2
status_poll_interval_ms = 50
"#,
        fb_graph = fbc.graph_base_url,
        fb_id = fbc.app_id,
        fb_secret = fbc.app_secret.expose_secret(),
        ig_graph = igc.facebook_graph_base_url,
        ig_id = igc.app_id,
        ig_secret = igc.app_secret.expose_secret(),
    );
    let mut app = TestApp::new(Db::Sqlite, &extra)?;

    // One account of each platform expires in 20 s (proactive refresh); the others carry no
    // expiry and meet an expired-token error after the first run (refresh on auth error).
    let import = json!([
        import_entry("facebook", "fb-1", &fb_accounts[0], Some(20)),
        import_entry("facebook", "fb-2", &fb_accounts[1], None),
        import_entry("instagram", "ig-1", &ig_accounts[0], Some(20)),
        import_entry("instagram", "ig-2", &ig_accounts[1], None),
    ]);
    let import_file = app.path().join("accounts.json");
    std::fs::write(&import_file, serde_json::to_string(&import)?)?;
    let file_arg = import_file.display().to_string();
    app.run(&["accounts", "import", &file_arg, "--workspace", "acme"])?;
    let campaign_file = app.path().join("spring.toml");
    std::fs::write(&campaign_file, CAMPAIGN)?;
    let campaign_arg = campaign_file.display().to_string();
    app.run(&["campaign", "load", &campaign_arg])?;
    let imported = rt.block_on(sealed_tokens(&app))?;

    fb.set_chaos(0.10, 0.05, 11);
    ig.set_chaos(0.10, 0.05, 12);
    let mut serve = app.spawn_serve("platforms")?;
    let outcome = (|| -> anyhow::Result<Vec<Value>> {
        app.run(&[
            "campaign",
            "trigger",
            "spring",
            "--workspace",
            "acme",
            "--key",
            "run-1",
        ])?;
        wait_for_posts(&app, 4, Duration::from_secs(180))?;
        // Tokens expire mid-run: every Page / Instagram token the fakes issued so far.
        fb.expire_all_access_tokens();
        ig.expire_all_access_tokens();
        app.run(&[
            "campaign",
            "trigger",
            "spring",
            "--workspace",
            "acme",
            "--key",
            "run-2",
        ])?;
        wait_for_posts(&app, 8, Duration::from_secs(180))
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    let posts = outcome?;
    stopped?;

    // Every target published, once.
    for p in &posts {
        ensure!(
            p["state"] == "published" && p["remote_id"].is_string(),
            "not published: {p}\n{}",
            app.dump_logs(80)
        );
    }
    ensure!(fb.commits() == 4, "facebook commits: {}", fb.commits());
    ensure!(ig.commits() == 4, "instagram commits: {}", ig.commits());
    let presets = [
        ("facebook-feed", (1200, 630)),
        ("facebook-square", (1080, 1080)),
    ];
    for (a, (preset, size)) in fb_accounts.iter().zip(presets) {
        let page = &a.account.external_id;
        let published: Vec<_> = fb.posts(page).into_iter().filter(|p| p.published).collect();
        ensure!(published.len() == 2, "page {page}: {published:?}");
        for post in &published {
            ensure!(
                post.image_size == size,
                "{preset}: page {page} got a {:?} image",
                post.image_size
            );
        }
    }
    let presets = [
        ("instagram-square", (1080, 1080)),
        ("instagram-portrait", (1080, 1350)),
    ];
    for (a, (preset, size)) in ig_accounts.iter().zip(presets) {
        let user = &a.account.external_id;
        let media = ig.media(user);
        ensure!(media.len() == 2, "instagram {user}: {media:?}");
        for m in &media {
            ensure!(
                m.image_size == size,
                "{preset}: {user} got {:?}",
                m.image_size
            );
        }
    }
    let (fb_5xx, fb_429) = fb.chaos_injected();
    let (ig_5xx, ig_429) = ig.chaos_injected();
    ensure!(
        fb_5xx + ig_5xx > 0 && fb_429 + ig_429 > 0,
        "chaos injected nothing: fb {fb_5xx}/{fb_429}, ig {ig_5xx}/{ig_429}"
    );

    // The tokens were refreshed: every account's sealed access token changed.
    let after = rt.block_on(sealed_tokens(&app))?;
    for (name, sealed) in &imported {
        ensure!(
            after.get(name) != Some(sealed),
            "{name}: its access token was never refreshed"
        );
    }

    // No token the fakes ever issued is in the database files or the daemon's logs.
    let mut haystacks = Vec::new();
    for entry in std::fs::read_dir(&app.data_dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("pressroom.db") {
            haystacks.push((path.clone(), std::fs::read(&path)?));
        }
    }
    for entry in std::fs::read_dir(app.path())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "log") {
            haystacks.push((path.clone(), std::fs::read(&path)?));
        }
    }
    ensure!(haystacks.len() >= 2, "database or log files not found");
    let tokens: Vec<String> = fb
        .issued_tokens()
        .into_iter()
        .chain(ig.issued_tokens())
        .collect();
    ensure!(
        tokens.len() >= 8,
        "the fakes issued {} tokens",
        tokens.len()
    );
    for token in &tokens {
        for (path, bytes) in &haystacks {
            let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
            ensure!(
                !found,
                "token {}… found in plaintext in {}",
                &token[..6.min(token.len())],
                path.display()
            );
        }
    }
    let listed = app.run(&["posts", "list", "--workspace", "acme"])?;
    ensure!(
        posts
            .iter()
            .all(|p| listed.contains(p["remote_id"].as_str().unwrap_or("?"))),
        "posts list shows every remote id:\n{listed}"
    );
    drop(rt);
    Ok(())
}

/// `pressroom accounts import` refuses a bad file with the entry and field named, storing
/// nothing.
#[test]
fn a_bad_import_file_is_refused_with_the_field_named() -> anyhow::Result<()> {
    let app = TestApp::new(Db::Sqlite, "")?;
    let file = app.path().join("bad.json");
    std::fs::write(
        &file,
        r#"[{"platform": "sandbox", "name": "ok", "external_id": "x", "access_token": "t"},
            {"platform": "myspace", "name": "old", "external_id": "y", "access_token": "t"}]"#,
    )?;
    let arg = file.display().to_string();
    let err = app
        .run(&["accounts", "import", &arg, "--workspace", "acme"])
        .err()
        .context("importing an unknown platform must fail")?;
    let msg = format!("{err:#}");
    ensure!(
        msg.contains("[1].platform") && msg.contains("myspace"),
        "{msg}"
    );
    let listed = app.run(&["accounts", "list", "--workspace", "acme"]);
    ensure!(
        listed.as_ref().map(|l| !l.contains("ok")).unwrap_or(true),
        "nothing imported: {listed:?}"
    );
    Ok(())
}

/// Reads the child's stdout until a line satisfies `want`; returns that line.
fn read_until(
    out: &mut impl std::io::BufRead,
    want: impl Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line)? == 0 {
            bail!("the command ended before printing the expected line");
        }
        if want(line.trim()) {
            return Ok(line.trim().to_string());
        }
    }
}

/// The query parameter `key` of a URL.
fn query_param(url: &str, key: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

/// `pressroom accounts connect facebook`: the authorize URL is printed, the browser's redirect
/// arrives on the loopback port (here sent by the test, as a browser would), and one account
/// per Page is stored with its tokens sealed.
#[test]
fn accounts_connect_facebook_stores_one_account_per_page() -> anyhow::Result<()> {
    use std::io::{BufReader, Read, Write};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let fb = rt.block_on(FakeFacebook::start())?;
    let user = fb.add_user(2);
    let cfg = fb.config();
    let app = TestApp::new(
        Db::Sqlite,
        &format!(
            "[connectors.facebook]\ngraph_base_url = \"{g}\"\ndialog_base_url = \"{g}\"\napp_id = \"{id}\"\napp_secret = \"{secret}\"\n",
            g = cfg.graph_base_url,
            id = cfg.app_id,
            secret = cfg.app_secret.expose_secret()
        ),
    )?;
    let mut child = app.spawn_piped(&[
        "accounts",
        "connect",
        "facebook",
        "--workspace",
        "acme",
        "--port",
        "0",
    ])?;
    let mut out = BufReader::new(child.stdout.take().context("stdout")?);
    let url = read_until(&mut out, |l| l.contains("/dialog/oauth?"))?;
    ensure!(url.starts_with(&cfg.graph_base_url), "{url}");
    let state = query_param(&url, "state").context("state in the authorize URL")?;
    let waiting = read_until(&mut out, |l| l.starts_with("Waiting for the redirect on "))?;
    let callback = waiting
        .trim_start_matches("Waiting for the redirect on ")
        .trim_end_matches(" …")
        .to_string();
    let addr = callback
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    // The browser comes back with the code the user's approval minted.
    let code = fb.mint_code(&user);
    let mut browser = std::net::TcpStream::connect(&addr)?;
    write!(
        browser,
        "GET /callback?code={code}&state={state} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )?;
    let mut page = String::new();
    browser.read_to_string(&mut page)?;
    ensure!(page.contains("account connected"), "{page}");
    let mut rest = String::new();
    out.read_to_string(&mut rest)?;
    let status = child.wait()?;
    ensure!(status.success(), "connect failed: {rest}");
    ensure!(rest.contains("Connected 2 facebook account(s)"), "{rest}");
    let listed = app.run(&["accounts", "list", "--workspace", "acme"])?;
    for page in fb.pages_of(&user) {
        ensure!(listed.contains(&format!("facebook-{page}")), "{listed}");
    }
    // A forged redirect (wrong state) is refused and stores nothing.
    let mut child = app.spawn_piped(&[
        "accounts",
        "connect",
        "facebook",
        "--workspace",
        "other",
        "--paste",
    ])?;
    let mut out = BufReader::new(child.stdout.take().context("stdout")?);
    read_until(&mut out, |l| l.starts_with("Then paste"))?;
    let code = fb.mint_code(&user);
    child.stdin.take().context("stdin")?.write_all(
        format!("http://localhost:8976/callback?code={code}&state=forged\n").as_bytes(),
    )?;
    let status = child.wait()?;
    ensure!(!status.success(), "a forged state must be refused");
    let other = app.run(&["accounts", "list", "--workspace", "other"]);
    ensure!(
        other
            .as_ref()
            .map(|l| !l.contains("facebook-"))
            .unwrap_or(true),
        "{other:?}"
    );
    drop(rt);
    Ok(())
}
