//! What the posts of a period achieved, read back from the stored metric series: sums and
//! per-post averages grouped by campaign, platform, account or day, the best posts by one
//! metric, and the self-contained HTML report an agency sends its client. The fetching itself
//! is the `insights` job's (`pipeline::insights`).

mod period;
mod report;

pub use period::{Group, GroupBy, MAX_POSTS, Period, PostResult, load, parse_bound};
pub use report::{ReportError, ReportHeading, render_report};
