//! The client report: one self-contained HTML page per workspace and period (inline CSS,
//! charts as inline SVG, images as `data:` URLs, no external reference, no script) that an
//! agency can send as it is. Everything a person wrote (captions, prompts, names) is
//! auto-escaped by the template engine.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use pressroom_connector::PostMetrics;
use pressroom_store::BlobStore;
use serde::Serialize;
use tracing::warn;

use super::period::{Group, GroupBy, Period, PostResult, day_of};

const TEMPLATE: &str = include_str!("report.html");

/// Top posts shown with their images.
const TOP_POSTS: usize = 6;
/// Characters of a caption in the table of every post.
const SHORT_CAPTION: usize = 200;
/// Longer side of an embedded image, in pixels.
const THUMBNAIL_SIDE: u32 = 360;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("rendering the report: {0}")]
    Template(#[from] minijinja::Error),
}

/// What the page says about the period, besides its numbers.
pub struct ReportHeading<'a> {
    pub workspace: &'a str,
    /// Zone of the dates shown (and of `day` grouping).
    pub tz: Tz,
    pub generated_at: DateTime<Utc>,
}

/// Renders the report of `period`; images of the top posts are read from `blobs` (an image
/// that cannot be read is left out, the report still renders).
pub async fn render_report(
    period: &Period,
    heading: ReportHeading<'_>,
    blobs: &dyn BlobStore,
) -> Result<String, ReportError> {
    let tz = heading.tz;
    let totals = period.totals();
    let names: Vec<&'static str> = PostMetrics::NAMES
        .into_iter()
        .filter(|n| totals.sums.contains_key(*n))
        .collect();
    let ranking = names.first().copied().unwrap_or("views");
    let mut top = Vec::new();
    for result in period.top(ranking, TOP_POSTS) {
        top.push(TopPost {
            image: thumbnail(blobs, &result.post.rendition_path).await,
            post: post_view(result, &names, tz),
            prompt: result.post.prompt.clone(),
            // As people read it: a number bare, a string without its quotes.
            seed: result.seed().map(|s| match s {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
        });
    }
    let context = minijinja::context! {
        workspace => heading.workspace,
        tz => tz.to_string(),
        from => day_of(period.from_ms, tz),
        to => day_of(period.to_ms - 1, tz),
        generated_at => heading.generated_at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string(),
        names => names,
        ranking => ranking,
        totals => totals,
        chart => chart(&period.groups(GroupBy::Day, tz), ranking),
        platforms => period.groups(GroupBy::Platform, tz),
        campaigns => period.groups(GroupBy::Campaign, tz),
        top => top,
        posts => period.posts.iter().map(|r| post_view(r, &names, tz)).collect::<Vec<_>>(),
        truncated => period.truncated,
    };
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_filter("num", num);
    env.add_template("report.html", TEMPLATE)?;
    Ok(env.get_template("report.html")?.render(context)?)
}

#[derive(Serialize)]
struct PostView {
    published: String,
    platform: String,
    account: String,
    campaign: String,
    caption: String,
    /// The caption cut to [`SHORT_CAPTION`] characters, for the table of every post.
    caption_short: String,
    url: Option<String>,
    /// One cell per shown metric: the number, or none where it was not measured.
    values: Vec<Option<u64>>,
    status: &'static str,
}

#[derive(Serialize)]
struct TopPost {
    post: PostView,
    /// `data:image/jpeg;base64,…`, made here from the bytes alone (so the page may show it
    /// unescaped).
    image: Option<String>,
    prompt: Option<String>,
    seed: Option<String>,
}

fn post_view(result: &PostResult, names: &[&str], tz: Tz) -> PostView {
    let p = &result.post;
    let status = if result.gone {
        "not found on the platform: deleted, or hidden from the account"
    } else if result.measured_at.is_none() {
        "no numbers yet"
    } else {
        ""
    };
    PostView {
        published: DateTime::from_timestamp_millis(p.published_at)
            .unwrap_or_default()
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        platform: p.platform.to_string(),
        account: p.account_name.clone(),
        campaign: p.campaign_name.clone(),
        caption: p.caption.clone(),
        caption_short: shorten(&p.caption, SHORT_CAPTION),
        // Only links a client can follow; anything else is shown as text.
        url: p.url.clone().filter(|u| u.starts_with("https://")),
        values: names.iter().map(|n| result.metrics.get(n)).collect(),
        status,
    }
}

/// A number as people read it: thousands separated (`15,000`), averages to one decimal.
fn num(value: minijinja::Value) -> String {
    let text = if value.is_integer() {
        value.to_string()
    } else {
        match f64::try_from(value.clone()) {
            Ok(f) => format!("{f:.1}"),
            Err(_) => return value.to_string(),
        }
    };
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{grouped}.{f}"),
        None => grouped,
    }
}

/// `text` cut to `max` characters (with an ellipsis when cut).
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

async fn thumbnail(blobs: &dyn BlobStore, key: &str) -> Option<String> {
    let bytes = match blobs.get(key).await {
        Ok(b) => b,
        Err(e) => {
            warn!(%key, error = %e, "report: an image could not be read; left out");
            return None;
        }
    };
    let jpeg = tokio::task::spawn_blocking(move || {
        pressroom_media::thumbnail_jpeg(&bytes, THUMBNAIL_SIDE)
    })
    .await
    .ok()?
    .map_err(|e| warn!(%key, error = %e, "report: an image could not be scaled; left out"))
    .ok()?;
    Some(format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    ))
}

/// Bars of `metric` per day, laid out for an inline SVG of fixed size.
#[derive(Serialize)]
struct Chart {
    metric: String,
    width: u32,
    height: u32,
    max: u64,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct Bar {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    day: String,
    value: u64,
    /// Only some days are labelled when there are many.
    labelled: bool,
}

fn chart(days: &[Group], metric: &str) -> Chart {
    const WIDTH: u32 = 720;
    const HEIGHT: u32 = 180;
    const AXIS: f64 = 20.0;
    let max = days
        .iter()
        .filter_map(|d| d.sums.get(metric).copied())
        .max()
        .unwrap_or(0);
    let slot = f64::from(WIDTH) / days.len().max(1) as f64;
    // A bar no wider than this, so a period of one day is not one block.
    let bar_width = (slot * 0.8).min(48.0);
    let every = days.len().div_ceil(12).max(1);
    let plot = f64::from(HEIGHT) - AXIS;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let value = d.sums.get(metric).copied().unwrap_or(0);
            let h = if max == 0 {
                0.0
            } else {
                plot * value as f64 / max as f64
            };
            Bar {
                x: i as f64 * slot + (slot - bar_width) / 2.0,
                y: plot - h,
                w: bar_width,
                h,
                day: d.key.clone(),
                value,
                labelled: i % every == 0,
            }
        })
        .collect();
    Chart {
        metric: metric.to_owned(),
        width: WIDTH,
        height: HEIGHT,
        max,
        bars,
    }
}

#[cfg(test)]
mod tests {
    use pressroom_core::{AccountId, CampaignId, Platform, PostId};
    use pressroom_store::repo::insights::ReportPost;
    use pressroom_store::{BlobStore, LocalBlobs};

    use super::*;

    fn post(platform: Platform, caption: &str, views: Option<u64>) -> PostResult {
        PostResult {
            post: ReportPost {
                post_id: PostId::new(),
                platform,
                caption: caption.to_owned(),
                published_at: 1_796_083_200_000,
                url: Some("https://example.com/p/1".into()),
                account_id: AccountId::new(),
                account_name: "Acme <Main>".into(),
                campaign_id: CampaignId::new(),
                campaign_name: "winter".into(),
                prompt: Some("a scarf in the snow".into()),
                asset_id: None,
                asset_params: Some(r#"{"seed": 42}"#.into()),
                rendition_path: "renditions/a.png".into(),
            },
            metrics: PostMetrics {
                views,
                likes: views.map(|_| 3),
                ..Default::default()
            },
            measured_at: views.map(|_| 1_796_090_000_000),
            gone: false,
        }
    }

    #[tokio::test]
    async fn the_report_escapes_what_people_wrote_and_embeds_its_images() {
        let dir = tempfile::tempdir().expect("temp dir");
        let blobs = LocalBlobs::new(dir.path());
        let image = image::RgbImage::from_pixel(64, 48, image::Rgb([10, 120, 200]));
        let png = pressroom_media::encode::png(&image).expect("png");
        blobs.put("renditions/a.png", &png).await.expect("put");
        let period = Period {
            from_ms: 1_796_083_200_000,
            to_ms: 1_796_169_600_000,
            posts: vec![
                post(
                    Platform::Instagram,
                    "<script>alert(1)</script> scarf",
                    Some(120),
                ),
                post(Platform::LinkedIn, &"long ".repeat(100), None),
            ],
            truncated: false,
        };
        let heading = ReportHeading {
            workspace: "Acme & Co",
            tz: Tz::UTC,
            generated_at: Utc::now(),
        };
        let html = render_report(&period, heading, &blobs)
            .await
            .expect("renders");
        assert!(html.contains("Acme &amp; Co"), "the workspace is escaped");
        assert!(!html.contains("<script>"), "a caption cannot inject markup");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("Acme &lt;Main&gt;"));
        assert!(
            html.contains("data:image/jpeg;base64,"),
            "the top post's image is inline"
        );
        assert!(html.contains("Seed: 42"));
        assert!(html.contains("no numbers yet"));
        assert!(html.contains("…"), "a long caption is cut in the table");
        assert!(html.contains("<b>120</b>"), "the total views");
        assert_eq!(num(minijinja::Value::from(15_000u64)), "15,000");
        assert_eq!(num(minijinja::Value::from(1_234_567u64)), "1,234,567");
        assert_eq!(num(minijinja::Value::from(2275.0f64)), "2,275.0");
        assert_eq!(num(minijinja::Value::from(12u64)), "12");
        for section in [
            "By platform",
            "By campaign",
            "Top posts by views",
            "Every post",
        ] {
            assert!(html.contains(section), "{section}");
        }
        let unmeasured = Period {
            posts: vec![post(Platform::LinkedIn, "quiet", None)],
            ..period.clone()
        };
        let heading = ReportHeading {
            workspace: "Acme",
            tz: Tz::UTC,
            generated_at: Utc::now(),
        };
        let html = render_report(&unmeasured, heading, &blobs)
            .await
            .expect("renders");
        assert!(
            html.contains("No post of this period has views yet.") && !html.contains("<svg"),
            "no empty chart without numbers"
        );
    }
}
