//! `pressroom posts import` through the real binary and daemon: a CSV with one bad row
//! among 200 imports nothing and names the row (`FILE:LINE: column: message`); the corrected
//! file imports 200 one-off posts (some to two accounts, some carousels, captions with
//! quotes, commas, braces and line breaks) that the daemon publishes to the sandbox exactly
//! once each; importing the same file again adds nothing. SQLite and PostgreSQL.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use pressroom_e2e::{Db, TestApp, free_port, terminate};
use pressroom_store::repo::{campaigns, workspaces};

const ROWS: usize = 200;

fn write_image(path: &std::path::Path, rgb: [u8; 3]) -> anyhow::Result<()> {
    let img = image::RgbImage::from_pixel(96, 72, image::Rgb(rgb));
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// The CSV text (RFC 4180 quoting) and how many posts each (account, caption) must get.
fn posts_csv(bad_row: Option<usize>) -> (String, BTreeMap<(String, String), usize>) {
    let mut text = String::from("publish_at,targets,caption,media,alt_text,first_comment\r\n");
    let mut want = BTreeMap::new();
    for i in 0..ROWS {
        let caption = if i % 7 == 0 {
            format!("Post {i}: \"quoted\", {{{{ not a template }}}}\nsecond line")
        } else {
            format!("Post {i} #shop")
        };
        let mut targets = if i % 4 == 0 { "sb;sb2" } else { "sb" }.to_owned();
        if bad_row == Some(i) {
            targets = "sb;nobody".into();
        }
        let media = if i % 5 == 0 {
            "img/red.png; img/blue.jpg"
        } else {
            "img/red.png"
        };
        let alt = if i % 3 == 0 {
            format!("Alt {i}")
        } else {
            String::new()
        };
        text.push_str(&format!(
            ",{targets},\"{}\",{media},{alt},Link in bio\r\n",
            caption.replace('"', "\"\"")
        ));
        for account in targets.split(';') {
            *want
                .entry((account.to_owned(), caption.clone()))
                .or_insert(0) += 1;
        }
    }
    (text, want)
}

fn import_through_the_daemon(db: Db) -> anyhow::Result<()> {
    let port = free_port()?;
    let config = format!(
        "[api]\nbind = \"127.0.0.1:{port}\"\n\n[scheduler]\nenabled = false\n\n[workers]\npoll_ms = 50\n"
    );
    let mut app = TestApp::new(db, &config)?;
    app.run(&["accounts", "add-sandbox", "sb", "--workspace", "acme"])?;
    app.run(&["accounts", "add-sandbox", "sb2", "--workspace", "acme"])?;
    std::fs::create_dir_all(app.path().join("img"))?;
    write_image(&app.path().join("img/red.png"), [200, 40, 40])?;
    write_image(&app.path().join("img/blue.jpg"), [40, 40, 200])?;

    // One bad row among 200: nothing imported, the row named by its line.
    let (bad, _) = posts_csv(Some(120));
    let bad_file = app.path().join("posts-bad.csv");
    std::fs::write(&bad_file, bad)?;
    let bad_path = bad_file.display().to_string();
    let (ok, _, stderr) =
        app.run_with_env(&["posts", "import", &bad_path, "--workspace", "acme"], &[])?;
    // Row 120's line: the header is line 1, and each earlier row of i % 7 == 0 spans two.
    let line = 2 + 120 + (0..120).filter(|i| i % 7 == 0).count();
    let expected = format!(
        "{bad_path}:{line}: targets: `nobody`: no account named `nobody` in this workspace"
    );
    ensure!(
        !ok && stderr.contains(&expected) && stderr.contains("nothing was imported (1 problem)"),
        "want {expected:?} in:\n{stderr}"
    );
    let stored = pressroom_e2e::block_on(async {
        let store = app.store().await?;
        let ws = workspaces::by_slug(&store, "acme")
            .await?
            .context("workspace acme")?;
        anyhow::Ok(campaigns::list(&store, &ws.id).await?.len())
    })?;
    ensure!(stored == 0, "a refused import stored {stored} posts");

    let (good, want) = posts_csv(None);
    let file = app.path().join("posts.csv");
    std::fs::write(&file, good)?;
    let path = file.display().to_string();
    let out = app.run(&["posts", "import", &path, "--workspace", "acme"])?;
    ensure!(
        out.contains(&format!(
            "imported {ROWS} posts ({ROWS} to publish now, 0 scheduled; 0 imported before)"
        )),
        "{out}"
    );
    // Again: the same posts are found, none added.
    let again = app.run(&["posts", "import", &path, "--workspace", "acme"])?;
    ensure!(
        again.contains(&format!(
            "imported 0 posts (0 to publish now, 0 scheduled; {ROWS} imported before)"
        )),
        "{again}"
    );

    let total: usize = want.values().sum();
    let addr = format!("127.0.0.1:{port}");
    let mut serve = app.spawn_serve("import")?;
    let outcome = (|| -> anyhow::Result<()> {
        app.wait_healthy(&addr, Duration::from_secs(120))?;
        let deadline = Instant::now() + Duration::from_secs(600);
        while app.sandbox_commits()?.len() < total {
            if Instant::now() > deadline {
                bail!(
                    "{} of {total} published in 10 min\n{}",
                    app.sandbox_commits()?.len(),
                    app.dump_logs(60)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        // Settle: nothing more goes out.
        std::thread::sleep(Duration::from_secs(2));
        let commits = app.sandbox_commits()?;
        let mut got: BTreeMap<(String, String), usize> = BTreeMap::new();
        for c in &commits {
            let account = c["account"].as_str().unwrap_or_default().to_owned();
            let caption = c["caption"].as_str().unwrap_or_default().to_owned();
            *got.entry((account, caption)).or_insert(0) += 1;
            // Every fifth row is a carousel of both images.
            let slides = 1 + c["more_media"].as_array().map_or(0, Vec::len);
            let carousel = c["format"] == "carousel";
            ensure!(carousel == (slides == 2), "{c}");
        }
        ensure!(
            commits.len() == total && got == want,
            "{} commits for {total} posts; differences: {:?}",
            commits.len(),
            want.iter()
                .filter(|(k, n)| got.get(*k) != Some(n))
                .take(5)
                .collect::<Vec<_>>()
        );
        Ok(())
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    outcome?;
    stopped?;
    Ok(())
}

#[test]
fn a_csv_of_200_posts_imports_and_publishes_each_once_sqlite() -> anyhow::Result<()> {
    import_through_the_daemon(Db::Sqlite)
}

#[test]
fn a_csv_of_200_posts_imports_and_publishes_each_once_postgres() -> anyhow::Result<()> {
    import_through_the_daemon(Db::Postgres)
}
