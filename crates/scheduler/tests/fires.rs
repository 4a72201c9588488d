//! Scheduler fires against real databases with a controllable clock: DST in the campaign's
//! zone, misfire policies after downtime, and two schedulers on one PostgreSQL database
//! firing each occurrence exactly once.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use pressroom_core::RunState;
use pressroom_scheduler::{ManualClock, fire_due};
use pressroom_store::repo::{campaigns, workspaces};
use pressroom_store::testing::TestDb;
use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};
use pressroom_store::{Queue, Store};

const GRACE: Duration = Duration::from_secs(60);

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("valid time")
}

fn campaign_source(name: &str, schedule: &str) -> String {
    format!(
        r#"name = "{name}"
workspace = "sched"

[schedule]
{schedule}

[generation]
prompt = "a test image"
steps = 2
width = 64
height = 64

[caption]
template = "caption"

[[targets]]
account = "sandbox"
preset = "instagram-square"
"#
    )
}

/// Stores a campaign whose schedule cursor starts at `since`.
async fn add_campaign(store: &Store, name: &str, schedule: &str, since: DateTime<Utc>) -> String {
    add_campaign_source(store, name, &campaign_source(name, schedule), since).await
}

async fn add_campaign_source(
    store: &Store,
    name: &str,
    source: &str,
    since: DateTime<Utc>,
) -> String {
    let ws = workspaces::ensure(store, "sched", "Scheduler tests")
        .await
        .expect("ws");
    let spec =
        pressroom_core::campaign::parse_campaign(source, "test.toml").expect("valid campaign");
    let row = campaigns::upsert(
        store.conn(),
        since.timestamp_millis(),
        campaigns::CampaignInput {
            workspace_id: &ws.id,
            name,
            source,
            source_file: None,
            spec: serde_json::to_value(&spec).expect("json"),
        },
    )
    .await
    .expect("campaign");
    row.id.into_string()
}

async fn fire_keys(store: &Store, campaign_id: &str, state: RunState) -> Vec<String> {
    let rows = store
        .conn()
        .query_all_raw(Statement::from_sql_and_values(
            store.conn().get_database_backend(),
            "SELECT fire_key FROM runs WHERE campaign_id = $1 AND state = $2 ORDER BY fire_key",
            vec![campaign_id.into(), state.as_str().into()],
        ))
        .await
        .expect("query");
    rows.iter()
        .map(|r| r.try_get::<String>("", "fire_key").expect("fire_key"))
        .collect()
}

async fn generate_jobs(store: &Store) -> i64 {
    let row = store
        .conn()
        .query_one_raw(Statement::from_string(
            store.conn().get_database_backend(),
            "SELECT COUNT(*) AS n FROM jobs WHERE kind = 'generate'",
        ))
        .await
        .expect("count")
        .expect("row");
    row.try_get::<i64>("", "n").expect("n")
}

/// Ticks every `step` from `from` to `to`, like a running daemon.
async fn tick_through(
    store: &Store,
    clock: &ManualClock,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: chrono::Duration,
) {
    let queue = Queue::new(store.clone());
    let mut t = from;
    while t <= to {
        clock.set(t);
        fire_due(store, &queue, clock, GRACE).await.expect("tick");
        t += step;
    }
}

async fn dst_fires_once_per_local_day(db: TestDb) {
    let store = &db.store;
    // Paris springs forward on 2026-03-29 (02:00 -> 03:00) and falls back on 2026-10-25.
    let paris = add_campaign(
        store,
        "paris",
        "cron = \"30 2 * * *\"\ntimezone = \"Europe/Paris\"",
        utc(2026, 3, 27, 12, 0),
    )
    .await;
    // New York springs forward on 2026-03-08 and falls back on 2026-11-01 (01:00-02:00 twice).
    let ny = add_campaign(
        store,
        "new-york",
        "cron = \"30 1 * * *\"\ntimezone = \"America/New_York\"",
        utc(2026, 10, 30, 12, 0),
    )
    .await;
    let clock = ManualClock::new(utc(2026, 3, 27, 12, 0));
    tick_through(
        store,
        &clock,
        utc(2026, 3, 27, 12, 0),
        utc(2026, 3, 31, 0, 0),
        chrono::Duration::minutes(10),
    )
    .await;
    assert_eq!(
        fire_keys(store, &paris, RunState::Queued).await,
        vec![
            "2026-03-28T01:30:00Z", // 02:30 CET
            "2026-03-29T01:00:00Z", // 02:30 does not exist: the first instant after the gap, 03:00 CEST
            "2026-03-30T00:30:00Z", // 02:30 CEST
        ]
    );
    assert!(fire_keys(store, &paris, RunState::Missed).await.is_empty());
    // Jumping to October is seven months of downtime for the Paris campaign: its default
    // policy (skip) records those as missed; then it fires daily again, on time.
    tick_through(
        store,
        &clock,
        utc(2026, 10, 30, 12, 0),
        utc(2026, 11, 3, 0, 0),
        chrono::Duration::minutes(10),
    )
    .await;
    assert_eq!(
        fire_keys(store, &ny, RunState::Queued).await,
        vec![
            "2026-10-31T05:30:00Z", // 01:30 EDT
            "2026-11-01T05:30:00Z", // 01:30 happens twice: fires once, at the first (EDT)
            "2026-11-02T06:30:00Z", // 01:30 EST
        ]
    );
    let paris_fires = fire_keys(store, &paris, RunState::Queued).await;
    assert_eq!(paris_fires.len(), 6, "{paris_fires:?}");
    assert_eq!(
        paris_fires[3], "2026-10-31T01:30:00Z",
        "02:30 CEST, the day before fall-back"
    );
    assert!(
        fire_keys(store, &paris, RunState::Missed).await.len() > 200,
        "the downtime's fires are recorded as missed"
    );
    assert_eq!(generate_jobs(store).await, 9, "one generate job per fire");
    db.drop_db().await;
}

async fn misfire_policies_after_three_hours_down(db: TestDb) {
    let store = &db.store;
    let t0 = utc(2026, 6, 1, 8, 0);
    let hourly = "cron = \"0 * * * *\"\ntimezone = \"UTC\"";
    let skip = add_campaign(store, "skip", &format!("{hourly}\nmisfire = \"skip\""), t0).await;
    let once = add_campaign(store, "once", &format!("{hourly}\nmisfire = \"once\""), t0).await;
    let each = add_campaign(
        store,
        "each",
        &format!("{hourly}\nmisfire = \"each\"\nmisfire_window = \"2h\""),
        t0,
    )
    .await;
    // Down from 08:00 to 11:05: the 09:00, 10:00 and 11:00 fires were missed.
    let clock = ManualClock::new(utc(2026, 6, 1, 11, 5));
    let queue = Queue::new(store.clone());
    let report = fire_due(store, &queue, &clock, GRACE).await.expect("tick");

    assert!(fire_keys(store, &skip, RunState::Queued).await.is_empty());
    assert_eq!(fire_keys(store, &skip, RunState::Missed).await.len(), 3);

    assert_eq!(
        fire_keys(store, &once, RunState::Queued).await,
        vec!["2026-06-01T11:00:00Z"]
    );
    assert_eq!(fire_keys(store, &once, RunState::Missed).await.len(), 2);

    // Within a 2 h window of 11:05: 10:00 and 11:00 run late; 09:00 is too old.
    assert_eq!(
        fire_keys(store, &each, RunState::Queued).await,
        vec!["2026-06-01T10:00:00Z", "2026-06-01T11:00:00Z"]
    );
    assert_eq!(
        fire_keys(store, &each, RunState::Missed).await,
        vec!["2026-06-01T09:00:00Z"]
    );
    assert_eq!(report.fired.len(), 3);
    assert_eq!(report.missed, 6);

    // A restart that ticks again at the same moment fires nothing new.
    let again = fire_due(store, &queue, &clock, GRACE).await.expect("tick");
    assert!(again.fired.is_empty() && again.missed == 0);
    db.drop_db().await;
}

/// A campaign that needs approval fires `lead_time` ahead of each occurrence, and its run
/// keeps the occurrence as the time it publishes.
async fn a_lead_time_fires_ahead_and_keeps_the_scheduled_time(db: TestDb) {
    let store = &db.store;
    let source = format!(
        "{}\n[approval]\nlead_time = \"24h\"\n",
        campaign_source("ahead", "cron = \"0 9 * * *\"\ntimezone = \"UTC\"")
    );
    let id = add_campaign_source(store, "ahead", &source, utc(2026, 6, 1, 0, 0)).await;
    let clock = ManualClock::new(utc(2026, 6, 1, 0, 0));
    // Added at midnight, the 09:00 occurrence is less than a day away: it fires at once.
    // At 08:50 the next one (June 2nd, 09:00) is still more than a day away.
    tick_through(
        store,
        &clock,
        utc(2026, 6, 1, 0, 0),
        utc(2026, 6, 1, 8, 50),
        chrono::Duration::minutes(10),
    )
    .await;
    assert_eq!(
        fire_keys(store, &id, RunState::Queued).await,
        vec!["2026-06-01T09:00:00Z"]
    );
    // From 09:00 on, June 2nd's is within a day: it fires then, a day early; by 09:10 on
    // June 2nd June 3rd's has too, and nothing fired twice.
    tick_through(
        store,
        &clock,
        utc(2026, 6, 1, 9, 0),
        utc(2026, 6, 2, 9, 10),
        chrono::Duration::minutes(10),
    )
    .await;
    assert_eq!(
        fire_keys(store, &id, RunState::Queued).await,
        vec![
            "2026-06-01T09:00:00Z",
            "2026-06-02T09:00:00Z",
            "2026-06-03T09:00:00Z"
        ]
    );
    let row = store
        .conn()
        .query_one_raw(Statement::from_sql_and_values(
            store.conn().get_database_backend(),
            "SELECT fire_at FROM runs WHERE campaign_id = $1 AND fire_key = $2",
            vec![id.clone().into(), "2026-06-02T09:00:00Z".into()],
        ))
        .await
        .expect("query")
        .expect("run");
    assert_eq!(
        row.try_get::<i64>("", "fire_at").expect("fire_at"),
        utc(2026, 6, 2, 9, 0).timestamp_millis(),
        "the run publishes at its occurrence, not when it was generated"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn lead_time_sqlite() {
    a_lead_time_fires_ahead_and_keeps_the_scheduled_time(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn lead_time_postgres() {
    a_lead_time_fires_ahead_and_keeps_the_scheduled_time(TestDb::postgres("pressroom_sched").await)
        .await;
}

#[tokio::test]
async fn dst_fires_once_per_local_day_sqlite() {
    dst_fires_once_per_local_day(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn dst_fires_once_per_local_day_postgres() {
    dst_fires_once_per_local_day(TestDb::postgres("pressroom_sched").await).await;
}

#[tokio::test]
async fn misfire_policies_after_three_hours_down_sqlite() {
    misfire_policies_after_three_hours_down(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn misfire_policies_after_three_hours_down_postgres() {
    misfire_policies_after_three_hours_down(TestDb::postgres("pressroom_sched").await).await;
}

/// Two scheduler instances (separate connection pools) tick the same PostgreSQL database
/// concurrently, with clocks a little apart: every occurrence fires exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_on_one_postgres_fire_each_occurrence_once() {
    let db = TestDb::postgres("pressroom_sched").await;
    let t0 = utc(2026, 6, 1, 0, 0);
    let id = add_campaign(
        &db.store,
        "every-minute",
        "cron = \"* * * * *\"\ntimezone = \"UTC\"",
        t0,
    )
    .await;
    let url = db.url().expect("a PostgreSQL database").to_string();
    let mut instances = Vec::new();
    for skew_secs in [0i64, 7] {
        let store = Store::connect(&url).await.expect("second pool");
        instances.push(tokio::spawn(async move {
            let queue = Queue::new(store.clone());
            let clock = ManualClock::new(t0);
            // 90 minutes of ticks every 20 s, this instance's clock `skew_secs` ahead.
            for step in 0..=270 {
                clock.set(t0 + chrono::Duration::seconds(step * 20 + skew_secs));
                fire_due(&store, &queue, &clock, GRACE).await.expect("tick");
                tokio::task::yield_now().await;
            }
        }));
    }
    for i in instances {
        i.await.expect("instance");
    }
    let fired = fire_keys(&db.store, &id, RunState::Queued).await;
    let mut unique = fired.clone();
    unique.dedup();
    assert_eq!(fired.len(), unique.len(), "no occurrence fired twice");
    assert_eq!(fired.len(), 90, "every minute from 00:01 to 01:30 fired");
    assert_eq!(
        fired.first().map(String::as_str),
        Some("2026-06-01T00:01:00Z")
    );
    assert_eq!(
        generate_jobs(&db.store).await,
        90,
        "exactly one generate job per fire"
    );
    db.drop_db().await;
}
