//! Compiling a template field and pointing at the failing line inside the TOML file.

use std::collections::BTreeSet;
use std::ops::Range;

use super::context::RESERVED_VARIABLES;
use super::issue::SpecIssue;
use super::reader::{Reader, Sink, TemplateUse};
use crate::template::{TemplateError, check_syntax, variables};

/// Reads a template given inline (`key`) or as a file (`file_key`, resolved through
/// the caller's [`TemplateFiles`](super::TemplateFiles)), and checks its syntax.
/// `Some(None)`: neither given and not `required`; `None`: an issue was recorded.
pub(crate) fn read_template(
    table: &mut Reader<'_, '_>,
    sink: &mut Sink<'_>,
    key: &'static str,
    file_key: &'static str,
    required: bool,
) -> Option<Option<String>> {
    let inline = table.get(key);
    let file = table.get(file_key);
    match (inline, file) {
        (Some(_), Some(file)) => {
            let message = format!("give either `{key}` or `{file_key}`, not both");
            sink.push(file.span(), &file.path, message);
            None
        }
        (None, None) if required => {
            let message = format!("missing required field (or `{file_key}`)");
            sink.push(table.span(), &table.child_path(key), message);
            None
        }
        (None, None) => Some(None),
        (Some(item), None) => {
            let text = item.string(sink)?;
            if required && text.get_ref().trim().is_empty() {
                sink.push(text.span(), &item.path, "must not be empty");
                return None;
            }
            check_template_field(sink, text.span(), &item.path, text.get_ref());
            Some(Some(text.into_inner()))
        }
        (None, Some(item)) => {
            let name = item.string(sink)?;
            let Some(text) = (sink.files)(name.get_ref()) else {
                let message = format!("template file `{}` not found", name.get_ref());
                sink.push(name.span(), &item.path, message);
                return None;
            };
            match check_syntax(&text) {
                Ok(()) => sink.templates.push(TemplateUse {
                    span: name.span(),
                    field: item.path.clone(),
                    text: text.clone(),
                }),
                Err(err) => sink.issues.push(SpecIssue {
                    file: name.get_ref().clone(),
                    line: err.line(),
                    column: 1,
                    field: item.path.clone(),
                    limit: err.limit(),
                    message: match err {
                        TemplateError::Syntax { message, .. } => {
                            format!("template syntax error: {message}")
                        }
                        other => other.to_string(),
                    },
                }),
            }
            Some(Some(text))
        }
    }
}

/// Checks the MiniJinja syntax of a template taken from the TOML string at `span`,
/// reporting the error at the template's failing line in the file. The mapping is exact
/// for literal and multi-line strings; a basic string with `\n` escapes points at its
/// first line.
pub(crate) fn check_template_field(
    sink: &mut Sink<'_>,
    span: Range<usize>,
    field: &str,
    text: &str,
) {
    let Err(err) = check_syntax(text) else {
        sink.templates.push(TemplateUse {
            span,
            field: field.to_owned(),
            text: text.to_owned(),
        });
        return;
    };
    let TemplateError::Syntax { line, message } = &err else {
        sink.push(span, field, err.to_string());
        if let Some(issue) = sink.issues.last_mut() {
            issue.limit = err.limit();
        }
        return;
    };
    let offset = line_offset_in_value(sink.source, span.clone(), *line).unwrap_or(span.start);
    sink.push(
        offset..offset,
        field,
        format!("template syntax error (template line {line}): {message}"),
    );
}

/// Reports variables that a compiled template reads but nothing provides: not in
/// `[variables]` and not reserved for the run.
pub(crate) fn check_template_variables(sink: &mut Sink<'_>, defined: &BTreeSet<String>) {
    let uses = std::mem::take(&mut sink.templates);
    for template in uses {
        let Ok(used) = variables(&template.text) else {
            continue;
        };
        for name in used {
            if name == "target" && template.field.starts_with("generation.") {
                sink.push(
                    template.span.clone(),
                    &template.field,
                    "`target` is not known here: the prompt makes one image for every target; use it in the caption, alt text or first comment",
                );
                continue;
            }
            if !defined.contains(&name) && !RESERVED_VARIABLES.contains(&name.as_str()) {
                sink.push(
                    template.span.clone(),
                    &template.field,
                    format!(
                        "undefined variable `{name}`: declare it (with a default) in [variables]; the run provides only `run` (and `target` to the per-target texts)"
                    ),
                );
            }
        }
    }
}

/// Byte offset in `source` where line `line` (1-based) of the string value at `span`
/// starts, or `None` when the value's text does not contain that many lines.
fn line_offset_in_value(source: &str, span: Range<usize>, line: usize) -> Option<usize> {
    let raw = source.get(span.clone())?;
    let multi = raw.starts_with("\"\"\"") || raw.starts_with("'''");
    let mut start = span.start + if multi { 3 } else { 1 };
    if multi {
        // TOML trims a newline that immediately follows the opening delimiter.
        let after = source.get(start..)?;
        if after.starts_with("\r\n") {
            start += 2;
        } else if after.starts_with('\n') {
            start += 1;
        }
    }
    if line <= 1 {
        return Some(start);
    }
    if !multi {
        return None;
    }
    let body = source.get(start..span.end)?;
    body.match_indices('\n')
        .nth(line - 2)
        .map(|(i, _)| start + i + 1)
}
