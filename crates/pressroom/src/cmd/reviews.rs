//! `pressroom reviews list|show|approve|reject`: the approval gate from the command line, on
//! the same decisions the API and review links make (`pressroom_runtime::reviews`). The
//! daemon carries a decision out (cuts the chosen candidate, publishes at the scheduled time)
//! whether or not it was running when the decision was made.

use std::collections::BTreeMap;
use std::process::ExitCode;

use pressroom_core::{ReviewId, ReviewState};
use pressroom_runtime::reviews::{self as decide, Decider, Decision};
use pressroom_store::Paging;
use pressroom_store::entity::review;
use pressroom_store::repo::{campaigns, posts, reviews};

use super::{fmt_ms, print_table, workspace_id};
use crate::app;
use crate::config::Settings;

#[derive(clap::Subcommand)]
pub enum ReviewsCmd {
    /// List a workspace's reviews, newest first.
    List {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// pending, approved, rejected or expired.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Show one review: its candidates, targets and captions, and the decision.
    Show {
        /// The review's id (`reviews list` shows it).
        id: String,
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
    },
    /// Approve a pending review.
    Approve {
        /// The review's id (`reviews list` shows it).
        id: String,
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// The chosen candidate, 0-based.
        #[arg(long, default_value_t = 0)]
        candidate: u32,
        /// A caption edit, `ACCOUNT:PRESET=text` (repeatable).
        #[arg(long = "caption", value_name = "ACCOUNT:PRESET=TEXT")]
        captions: Vec<String>,
        /// Decide as this person (required when the campaign names its approvers).
        #[arg(long = "as", value_name = "EMAIL")]
        as_user: Option<String>,
    },
    /// Reject a pending review (or, with --regenerate, ask for new candidates).
    Reject {
        /// The review's id (`reviews list` shows it).
        id: String,
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Why (kept with the decision and sent with `run.rejected`).
        #[arg(long, default_value = "")]
        reason: String,
        /// Generate new candidates (new seeds) instead; the review stays pending.
        #[arg(long)]
        regenerate: bool,
        /// Decide as this person (required when the campaign names its approvers).
        #[arg(long = "as", value_name = "EMAIL")]
        as_user: Option<String>,
    },
}

fn decider(as_user: Option<String>) -> Decider {
    match as_user {
        Some(email) => Decider::Person {
            email: email.trim().to_lowercase(),
        },
        None => Decider::Operator,
    }
}

fn parse_captions(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    anyhow::anyhow!("--caption: expected ACCOUNT:PRESET=text, got {item:?}")
                })
        })
        .collect()
}

pub async fn run(settings: Settings, cmd: ReviewsCmd) -> anyhow::Result<ExitCode> {
    let opened = app::open_store(&settings, false).await?;
    let store = &opened.store;
    match cmd {
        ReviewsCmd::List {
            workspace,
            state,
            limit,
        } => {
            let ws = workspace_id(store, &workspace).await?;
            let state = state
                .map(|s| {
                    ReviewState::parse(&s).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--state: unknown review state {s:?} (pending, approved, rejected or expired)"
                        )
                    })
                })
                .transpose()?;
            let rows =
                reviews::page(store, &ws, state, Paging::new(None, limit.clamp(1, 500))).await?;
            let mut table = Vec::new();
            for r in &rows {
                let campaign = campaigns::get(store, &ws, &r.campaign_id).await?;
                table.push(vec![
                    r.id.to_string(),
                    campaign.name,
                    r.state.to_string(),
                    match (reviews::candidates(r)?.len(), reviews::flags(r)?.len()) {
                        (kept, 0) => kept.to_string(),
                        (kept, withheld) => format!("{kept} ({withheld} withheld)"),
                    },
                    fmt_ms(r.deadline_at),
                    r.decided_by.clone().unwrap_or_default(),
                ]);
            }
            print_table(
                &[
                    "ID",
                    "CAMPAIGN",
                    "STATE",
                    "CANDIDATES",
                    "DEADLINE (UTC)",
                    "DECIDED BY",
                ],
                &table,
            );
        }
        ReviewsCmd::Show { id, workspace } => {
            let ws = workspace_id(store, &workspace).await?;
            let r = reviews::get(store.conn(), &ws, &ReviewId::from(id)).await?;
            show(store, &r).await?;
        }
        ReviewsCmd::Approve {
            id,
            workspace,
            candidate,
            captions,
            as_user,
        } => {
            let ws = workspace_id(store, &workspace).await?;
            let captions = parse_captions(&captions)?;
            let r = decide::approve(
                store,
                &opened.queue,
                &ws,
                &ReviewId::from(id),
                &decider(as_user),
                candidate,
                captions,
                None,
            )
            .await?;
            println!("approved: candidate {candidate} of review {}", r.id);
        }
        ReviewsCmd::Reject {
            id,
            workspace,
            reason,
            regenerate,
            as_user,
        } => {
            let ws = workspace_id(store, &workspace).await?;
            let r = decide::reject(
                store,
                &opened.queue,
                &ws,
                &ReviewId::from(id),
                &decider(as_user),
                &reason,
                regenerate,
                None,
            )
            .await?;
            if regenerate {
                println!("regenerating: round {} of review {}", r.round, r.id);
            } else {
                println!("rejected: review {}", r.id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn show(store: &pressroom_store::Store, r: &review::Model) -> anyhow::Result<()> {
    let campaign = campaigns::get(store, &r.workspace_id, &r.campaign_id).await?;
    println!("review    {}", r.id);
    println!("campaign  {}", campaign.name);
    println!("run       {}", r.run_id);
    println!("state     {} (round {})", r.state, r.round);
    println!("deadline  {} UTC", fmt_ms(r.deadline_at));
    let candidates = reviews::candidates(r)?;
    let withheld = reviews::flags(r)?;
    for (i, asset) in candidates.iter().enumerate() {
        println!("candidate {i}  asset {asset}");
    }
    for flag in &withheld {
        println!(
            "withheld  image {} (seed {}): {}",
            flag.candidate, flag.seed, flag.reason
        );
    }
    if r.state == ReviewState::Pending && candidates.is_empty() && !withheld.is_empty() {
        println!("          nothing to approve: reject, or reject --regenerate for new images");
    }
    for post in posts::of_run(store.conn(), &r.workspace_id, &r.run_id).await? {
        println!(
            "target    {} {} [{}]: {}",
            post.platform, post.preset, post.state, post.caption
        );
    }
    if let (Some(by), Some(at)) = (&r.decided_by, r.decided_at) {
        let d = Decision::of(r).unwrap_or_default();
        println!("decided   by {by} at {} UTC", fmt_ms(at));
        if let Some(c) = d.candidate {
            println!("chosen    candidate {c}");
        }
        if let Some(reason) = d.reason.filter(|r| !r.is_empty()) {
            println!("reason    {reason}");
        }
    }
    Ok(())
}
