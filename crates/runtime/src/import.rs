//! Reading a CSV of posts (`pressroom posts import`): RFC 4180, a header row naming the
//! columns, one post per row. Pure: the caller reads the file, checks the media and stores
//! the posts; this turns text into rows or into every problem, each as
//! `FILE:LINE: column: message` with LINE the file's line (the header is line 1; a quoted
//! field spanning lines counts them all).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use pressroom_core::schedule::ScheduleError;

/// The columns a posts CSV may have; `targets` and `media` are required.
pub const COLUMNS: [&str; 6] = [
    "publish_at",
    "targets",
    "caption",
    "media",
    "alt_text",
    "first_comment",
];

/// More rows than this is a mistake (a wrong file), not a campaign.
pub const MAX_ROWS: usize = 10_000;

/// One row, read but not yet checked against the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The file's line where the row starts.
    pub line: u64,
    /// None: publish now.
    pub publish_at: Option<DateTime<Utc>>,
    pub targets: Vec<String>,
    pub caption: String,
    /// File paths as written (relative to the CSV file's folder).
    pub media: Vec<String>,
    pub alt_text: Option<String>,
    pub first_comment: Option<String>,
}

/// A problem at a line and column of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub line: u64,
    /// The column's name, or empty for the row (or file) as a whole.
    pub column: String,
    pub message: String,
}

impl RowProblem {
    /// `FILE:LINE: column: message`.
    pub fn display(&self, file: &str) -> String {
        if self.column.is_empty() {
            format!("{file}:{}: {}", self.line, self.message)
        } else {
            format!("{file}:{}: {}: {}", self.line, self.column, self.message)
        }
    }
}

/// Reads every row of `text`; local `publish_at` times are read in `timezone`.
///
/// # Errors
/// Every problem found (the whole file is read, so all are reported at once).
pub fn read_posts(text: &str, timezone: Option<Tz>) -> Result<Vec<Row>, Vec<RowProblem>> {
    let mut problems = Vec::new();
    let at = |line: u64, column: &str, message: String| RowProblem {
        line,
        column: column.to_owned(),
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![at(1, "", format!("cannot read the header row: {e}"))]),
    };
    let mut index = [None; COLUMNS.len()];
    for (position, name) in headers.iter().enumerate() {
        let name = name.trim();
        match COLUMNS.iter().position(|c| *c == name) {
            Some(i) if index[i].is_some() => {
                problems.push(at(1, name, "the column is named twice".into()));
            }
            Some(i) => index[i] = Some(position),
            None => problems.push(at(
                1,
                name,
                format!("unknown column, expected {}", COLUMNS.join(", ")),
            )),
        }
    }
    for required in ["targets", "media"] {
        let i = COLUMNS.iter().position(|c| *c == required).unwrap_or(0);
        if index[i].is_none() {
            problems.push(at(1, required, "missing column in the header row".into()));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let cell = |record: &csv::StringRecord, name: &str| -> String {
        COLUMNS
            .iter()
            .position(|c| *c == name)
            .and_then(|i| index[i])
            .and_then(|p| record.get(p))
            .unwrap_or_default()
            .to_owned()
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_at(text, p.byte()));
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("{len} fields where the header has {expected_len}"),
                    _ => e.to_string(),
                };
                problems.push(at(line, "", message));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| line_at(text, p.byte()));
        if rows.len() + problems.len() >= MAX_ROWS {
            problems.push(at(
                line,
                "",
                format!("more than {MAX_ROWS} rows: split the file"),
            ));
            break;
        }
        let publish_at = match cell(&record, "publish_at").trim() {
            "" => None,
            written => match pressroom_core::schedule::parse_at(written, timezone) {
                Ok(instant) => Some(instant),
                Err(e) => {
                    let message = match e {
                        ScheduleError::MissingTimeZone => format!(
                            "`{written}` is a local time: give --timezone, or write an offset (2026-12-24T09:00:00+01:00)"
                        ),
                        ScheduleError::InvalidDateTime(_) => format!(
                            "`{written}` is not a date-time: write RFC 3339 (2026-12-24T09:00:00+01:00), or a local YYYY-MM-DD HH:MM with --timezone"
                        ),
                        other => format!("`{written}`: {other}"),
                    };
                    problems.push(at(line, "publish_at", message));
                    None
                }
            },
        };
        let list = |name: &str| -> Vec<String> {
            cell(&record, name)
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let optional = |name: &str| Some(cell(&record, name)).filter(|s| !s.trim().is_empty());
        let row = Row {
            line,
            publish_at,
            targets: list("targets"),
            caption: cell(&record, "caption"),
            media: list("media"),
            alt_text: optional("alt_text"),
            first_comment: optional("first_comment"),
        };
        if row.targets.is_empty() {
            problems.push(at(
                line,
                "targets",
                "empty: name an account (`account` or `account:preset`, several separated by `;`)"
                    .into(),
            ));
        }
        if row.media.is_empty() {
            problems.push(at(
                line,
                "media",
                "empty: name an image file (several separated by `;`)".into(),
            ));
        }
        rows.push(row);
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push(at(1, "", "no rows after the header".into()));
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// The file line of the record starting at byte `at`. The csv crate's own line count is
/// one short after each CRLF terminator (it records a position before the `\n`), so lines are
/// counted here, from the first byte of the record.
fn line_at(text: &str, at: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut start = usize::try_from(at).unwrap_or(bytes.len()).min(bytes.len());
    while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
        start += 1;
    }
    1 + bytes[..start].iter().filter(|b| **b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::read_posts;

    #[test]
    fn rows_are_read_with_their_file_lines() {
        let text = "publish_at,targets,caption,media,alt_text,first_comment\n\
                    ,ig;li:linkedin-square,\"Hello, \"\"world\"\"\nsecond line\",a.jpg; b.png,Mugs,#shop\n\
                    2026-12-24 09:00,ig,Merry,c.jpg,,\n\
                    2026-12-24T09:00:00Z,ig,Z,d.jpg,,\n";
        let tz = "Europe/Paris".parse().ok();
        let rows = read_posts(text, tz).expect("reads");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].targets, ["ig", "li:linkedin-square"]);
        assert_eq!(rows[0].caption, "Hello, \"world\"\nsecond line");
        assert_eq!(rows[0].media, ["a.jpg", "b.png"]);
        assert_eq!(rows[0].first_comment.as_deref(), Some("#shop"));
        assert_eq!(rows[0].publish_at, None);
        // The quoted caption spans two lines: the next row starts on line 4.
        assert_eq!(rows[1].line, 4);
        assert_eq!(
            rows[1].publish_at.map(|t| t.to_rfc3339()),
            Some("2026-12-24T08:00:00+00:00".to_owned())
        );
        assert_eq!(rows[1].alt_text, None);
        assert_eq!(
            rows[2].publish_at.map(|t| t.to_rfc3339()),
            Some("2026-12-24T09:00:00+00:00".to_owned())
        );
    }

    #[test]
    fn crlf_files_count_lines_alike() {
        let text = "targets,media,caption\r\nig,a.jpg,\"one\ntwo\"\r\nig,b.jpg,x\r\nig,c.jpg,\"three\r\nfour\"\r\nig,d.jpg,y\r\n";
        let lines: Vec<u64> = read_posts(text, None)
            .expect("reads")
            .iter()
            .map(|r| r.line)
            .collect();
        assert_eq!(lines, [2, 4, 5, 7]);
    }

    #[test]
    fn every_bad_row_is_named_by_line_and_column() {
        let text = "targets,media,publish_at\n\
                    ig,a.jpg,\n\
                    ,b.jpg,2026-12-24 09:00\n\
                    ig,,tomorrow\n\
                    ig,c.jpg\n";
        let problems = read_posts(text, None).expect_err("bad rows");
        let shown: Vec<String> = problems.iter().map(|p| p.display("posts.csv")).collect();
        assert_eq!(
            shown,
            [
                "posts.csv:3: publish_at: `2026-12-24 09:00` is a local time: give --timezone, or write an offset (2026-12-24T09:00:00+01:00)",
                "posts.csv:3: targets: empty: name an account (`account` or `account:preset`, several separated by `;`)",
                "posts.csv:4: publish_at: `tomorrow` is not a date-time: write RFC 3339 (2026-12-24T09:00:00+01:00), or a local YYYY-MM-DD HH:MM with --timezone",
                "posts.csv:4: media: empty: name an image file (several separated by `;`)",
                "posts.csv:5: 2 fields where the header has 3",
            ],
            "{shown:#?}"
        );
    }

    #[test]
    fn the_header_must_name_known_columns() {
        let problems =
            read_posts("account,media,caption\nig,a.jpg,x\n", None).expect_err("bad header");
        let shown: Vec<String> = problems.iter().map(|p| p.display("p.csv")).collect();
        assert_eq!(shown.len(), 2, "{shown:#?}");
        assert!(
            shown[0].starts_with("p.csv:1: account: unknown column"),
            "{shown:#?}"
        );
        assert_eq!(
            shown[1],
            "p.csv:1: targets: missing column in the header row"
        );
    }
}
