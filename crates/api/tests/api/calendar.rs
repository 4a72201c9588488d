//! `GET /v1/calendar`: a cron campaign's upcoming occurrences with its lead time and review
//! deadline, the window's runs with their posts, and the window's bad inputs named.

use chrono::{DateTime, Utc};
use pressroom_api::Role;
use serde_json::Value;

use crate::harness::{TestApp, campaign_toml};
use crate::pipeline_fixture::save_campaign;

async fn calendar(app: &TestApp, key: &str, query: &str) -> anyhow::Result<(u16, Value)> {
    let resp = app
        .http
        .get(app.url(&format!("/v1/calendar{query}")))
        .bearer_auth(key)
        .send()
        .await?;
    Ok((resp.status().as_u16(), resp.json().await?))
}

fn at(v: &Value) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(v.as_str().unwrap_or_default())?.with_timezone(&Utc))
}

pub async fn the_calendar_shows_planned_occurrences_and_runs(app: TestApp) -> anyhow::Result<()> {
    let w = app.world("cal").await?;
    let source = campaign_toml("cal", "daily")
        .replace("webhook = true", "cron = \"0 9 * * *\"\ntimezone = \"UTC\"")
        + "\n[approval]\nlead_time = \"24h\"\nexpires_after = \"20h\"\n";
    save_campaign(&app, &w.ws_id, "daily", &source).await?;
    let now = DateTime::from_timestamp_millis(app.store.now_ms().await?).unwrap_or_default();
    let from = (now - chrono::Duration::hours(1)).to_rfc3339();
    let to = (now + chrono::Duration::days(3)).to_rfc3339();
    let query = format!("?from={}&to={}", urlencode(&from), urlencode(&to));
    let (status, body) = calendar(&app, w.key(Role::Viewer), &query).await?;
    anyhow::ensure!(status == 200, "{status} {body}");
    let planned = body["planned"].as_array().cloned().unwrap_or_default();
    anyhow::ensure!(
        planned.len() == 3,
        "three daily occurrences in three days: {body}"
    );
    for p in &planned {
        let when = at(&p["at"])?;
        anyhow::ensure!(p["campaign"] == "daily" && p["approval"] == true, "{p}");
        anyhow::ensure!(p["timezone"] == "UTC", "{p}");
        anyhow::ensure!(when.format("%H:%M:%S").to_string() == "09:00:00", "{p}");
        let generate = at(&p["generate_at"])?;
        anyhow::ensure!(when - generate == chrono::Duration::hours(24), "{p}");
        anyhow::ensure!(
            at(&p["review_deadline"])? - generate == chrono::Duration::hours(20),
            "{p}"
        );
    }
    // The fixture's triggered run, with its post.
    let runs = body["runs"].as_array().cloned().unwrap_or_default();
    let run = runs
        .iter()
        .find(|r| r["run_id"] == w.run_id.to_string())
        .ok_or_else(|| anyhow::anyhow!("the fixture run is missing: {body}"))?;
    anyhow::ensure!(run["campaign"] == "restock", "{run}");
    anyhow::ensure!(run["posts"][0]["id"] == w.post_id.to_string(), "{run}");
    anyhow::ensure!(run["review"]["id"] == w.review_id.to_string(), "{run}");
    anyhow::ensure!(body["truncated"] == false);

    // Defaults: from now, thirty days.
    let (status, body) = calendar(&app, w.key(Role::Viewer), "").await?;
    anyhow::ensure!(status == 200, "{status} {body}");
    anyhow::ensure!(
        body["planned"].as_array().map(Vec::len).unwrap_or(0) >= 29,
        "{body}"
    );

    for (query, field) in [
        ("?from=yesterday", "from"),
        (
            format!("?from={}&to={}", urlencode(&to), urlencode(&from)).as_str(),
            "to",
        ),
        (
            format!(
                "?from={}&to={}",
                urlencode(&from),
                urlencode(&(now + chrono::Duration::days(120)).to_rfc3339())
            )
            .as_str(),
            "to",
        ),
    ] {
        let (status, body) = calendar(&app, w.key(Role::Viewer), query).await?;
        anyhow::ensure!(
            status == 400
                && body["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(field),
            "{query}: {status} {body}"
        );
    }
    Ok(())
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

on_both_backends!(the_calendar_shows_planned_occurrences_and_runs);
