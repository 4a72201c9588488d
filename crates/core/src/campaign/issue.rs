//! One problem found in a campaign file, positioned for a human.

use std::fmt;
use std::ops::Range;

/// A problem in a campaign definition, with the place it was found.
///
/// Validation collects every issue instead of stopping at the first, so that
/// `pressroom campaign validate` can show a whole file's problems in one pass.
/// `line` and `column` are 1-based; the column counts characters, not bytes, so it
/// matches what an editor shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecIssue {
    /// The file name given to the parser (not opened: core does no I/O).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Dotted path of the field, e.g. `schedule.timezone` or `targets[2].preset`;
    /// empty when the problem is the document itself (malformed TOML).
    pub field: String,
    /// What is wrong, in words.
    pub message: String,
    /// The template limit broken, when that is the problem (callers answer it differently:
    /// the template must change, not a value).
    pub limit: Option<crate::template::TemplateLimit>,
}

impl SpecIssue {
    /// Builds an issue located at the start of byte range `span` of `source`.
    pub fn at(
        file: &str,
        source: &str,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_column(source, span.start);
        Self {
            file: file.to_owned(),
            line,
            column,
            field: field.into(),
            message: message.into(),
            limit: None,
        }
    }
}

impl fmt::Display for SpecIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.file, self.line, self.column, self.field, self.message
            )
        }
    }
}

impl std::error::Error for SpecIssue {}

/// 1-based (line, column) of byte `offset` in `source`; offsets past the end or
/// inside a multi-byte character are clamped to the nearest valid position.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let src = "a = 1\nné = \"x\"\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 6), (2, 1));
        // byte 10 is the `=` after "né " (n=1 byte, é=2 bytes, space=1): 4th character
        assert_eq!(line_column(src, 10), (2, 4));
        assert_eq!(line_column(src, 999), (3, 1));
    }

    #[test]
    fn display_is_file_line_col_field_message() {
        let issue = SpecIssue::at("c.toml", "x\ny = 2", 2..3, "y", "bad");
        assert_eq!(issue.to_string(), "c.toml:2:1: y: bad");
    }
}
