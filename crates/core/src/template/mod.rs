//! Prompt and caption templates: MiniJinja with strict undefined variables, run within a
//! memory and time budget.
//!
//! Strict because a typo in a variable must stop a run with a clear error rather than
//! publish a caption with a hole in it. One environment per call: templates are short
//! and this keeps the functions pure and thread-safe.
//!
//! Templates come from outside (the API, campaign files), so every entry point checks the
//! memory bound ([`budget`]) before MiniJinja compiles anything, runs with [`FUEL`], and
//! caps what a render prints ([`MAX_OUTPUT_BYTES`]). Breaking a limit is a
//! [`TemplateError::Limit`] that names it.

mod budget;
mod env;

use std::collections::BTreeSet;

use minijinja::{ErrorKind, Value};
use thiserror::Error;

pub use budget::{MAX_SOURCE_BYTES, MEMORY_BUDGET, NOMINAL_CONTEXT_BYTES};
pub use env::MAX_OUTPUT_BYTES;

use env::{CappedOutput, environment};

/// The limit a template broke; `as_str` is its stable name, shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateLimit {
    /// The template text is longer than [`MAX_SOURCE_BYTES`].
    SourceBytes,
    /// Its values could need more than [`MEMORY_BUDGET`].
    MemoryBytes,
    /// It printed more than [`MAX_OUTPUT_BYTES`].
    OutputBytes,
    /// It ran more than [`FUEL`] instructions.
    Fuel,
    /// It uses a construct whose size cannot be bounded (output capture, macros, …).
    Syntax,
}

impl TemplateLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SourceBytes => "template.source_bytes",
            Self::MemoryBytes => "template.memory_bytes",
            Self::OutputBytes => "template.output_bytes",
            Self::Fuel => "template.fuel",
            Self::Syntax => "template.allowed_syntax",
        }
    }
}

impl std::fmt::Display for TemplateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a template could not be compiled or rendered. Lines are 1-based, within the
/// template text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TemplateError {
    #[error("template syntax error at line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("undefined variable `{name}` at line {line}")]
    Undefined { name: String, line: usize },
    #[error("template error at line {line}: {message}")]
    Render { line: usize, message: String },
    #[error("template limit {limit} exceeded at line {line}: {message}")]
    Limit {
        limit: TemplateLimit,
        line: usize,
        message: String,
    },
}

impl TemplateError {
    /// 1-based line in the template.
    pub fn line(&self) -> usize {
        match self {
            Self::Syntax { line, .. }
            | Self::Undefined { line, .. }
            | Self::Render { line, .. }
            | Self::Limit { line, .. } => *line,
        }
    }

    /// The limit broken, when that is the error.
    pub fn limit(&self) -> Option<TemplateLimit> {
        match self {
            Self::Limit { limit, .. } => Some(*limit),
            _ => None,
        }
    }
}

/// Instructions one render may execute. Captions and prompts need a few hundred; the
/// cap stops a template from the API (`{% for i in range(100000) %}` nested) from
/// pinning a worker. Each instruction builds at most a value the memory budget allows.
pub const FUEL: u64 = 100_000;

fn message(err: &minijinja::Error) -> String {
    err.detail()
        .map_or_else(|| err.kind().to_string(), str::to_owned)
}

fn syntax(err: &minijinja::Error) -> TemplateError {
    TemplateError::Syntax {
        line: err.line().unwrap_or(1),
        message: message(err),
    }
}

/// Checks that `template` compiles and fits the budget with a context of
/// [`NOMINAL_CONTEXT_BYTES`] (rendering checks again with the real context).
///
/// # Errors
/// [`TemplateError::Syntax`] with the line of the problem; [`TemplateError::Limit`].
pub fn check_syntax(template: &str) -> Result<(), TemplateError> {
    budget::check(template, NOMINAL_CONTEXT_BYTES)?;
    let env = environment();
    env.template_from_str(template)
        .map(|_| ())
        .map_err(|e| syntax(&e))
}

/// Renders `template` with `vars` (a JSON object; its keys are the variables).
///
/// # Errors
/// [`TemplateError::Syntax`]; [`TemplateError::Undefined`] naming the missing variable
/// (as written in the template, e.g. `product.name`); [`TemplateError::Limit`] naming the
/// limit broken; [`TemplateError::Render`] for other runtime errors (a failing filter, a
/// type error).
pub fn render(template: &str, vars: &serde_json::Value) -> Result<String, TemplateError> {
    let context = Value::from_serialize(vars);
    let context_bytes = u64::try_from(context.to_string().len()).unwrap_or(u64::MAX);
    budget::check(template, context_bytes)?;
    let env = environment();
    let compiled = env.template_from_str(template).map_err(|e| syntax(&e))?;
    let mut out = CappedOutput::default();
    match compiled.render_captured_to(context, &mut out) {
        Ok(_) => Ok(String::from_utf8_lossy(&out.text).into_owned()),
        Err(e) if out.exceeded => Err(TemplateError::Limit {
            limit: TemplateLimit::OutputBytes,
            line: e.line().unwrap_or(1),
            message: format!("the template printed more than {MAX_OUTPUT_BYTES} bytes"),
        }),
        Err(e) if e.kind() == ErrorKind::OutOfFuel => Err(TemplateError::Limit {
            limit: TemplateLimit::Fuel,
            line: e.line().unwrap_or(1),
            message: format!("the template ran out of fuel ({FUEL} instructions)"),
        }),
        Err(e) => Err(runtime_error(&e, template, vars)),
    }
}

fn runtime_error(e: &minijinja::Error, template: &str, vars: &serde_json::Value) -> TemplateError {
    let line = e.line().unwrap_or(1);
    if e.kind() == ErrorKind::UndefinedError {
        let name = e
            .range()
            .and_then(|r| template.get(r))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .or_else(|| first_missing(template, vars))
            .unwrap_or_else(|| "?".to_owned());
        TemplateError::Undefined { name, line }
    } else {
        TemplateError::Render {
            line,
            message: message(e),
        }
    }
}

/// The variables a template reads from its context (top-level names only, sorted;
/// built-in globals such as `range` are left out). Lets validation report a variable
/// that neither the campaign nor the run provides.
///
/// # Errors
/// [`TemplateError::Syntax`]; [`TemplateError::Limit`].
pub fn variables(template: &str) -> Result<BTreeSet<String>, TemplateError> {
    budget::check(template, NOMINAL_CONTEXT_BYTES)?;
    let env = environment();
    let compiled = env.template_from_str(template).map_err(|e| syntax(&e))?;
    let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
    Ok(compiled
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !globals.contains(name.as_str()))
        .collect())
}

fn first_missing(template: &str, vars: &serde_json::Value) -> Option<String> {
    variables(template)
        .ok()?
        .into_iter()
        .find(|name| vars.get(name).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_variables_and_filters() {
        let out = render(
            "{{ product | upper }} from {{ city }}",
            &json!({"product": "tea", "city": "Paris"}),
        );
        assert_eq!(out.as_deref(), Ok("TEA from Paris"));
    }

    #[test]
    fn missing_variable_is_named() {
        let err = render("Hello\n{{ who }}!", &json!({})).expect_err("strict");
        assert_eq!(
            err,
            TemplateError::Undefined {
                name: "who".into(),
                line: 2
            }
        );
    }

    #[test]
    fn missing_attribute_is_named() {
        let err =
            render("{{ product.nme }}", &json!({"product": {"name": "x"}})).expect_err("strict");
        assert!(
            matches!(&err, TemplateError::Undefined { name, .. } if name.contains("nme")),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_has_line() {
        let err = check_syntax("ok\n{% if x %}\nno end").expect_err("unclosed block");
        assert!(matches!(err, TemplateError::Syntax { .. }), "{err}");
        assert!(err.line() >= 2, "{err}");
        let err = check_syntax("a\nb\n{{ x }").expect_err("bad brace");
        assert_eq!(err.line(), 3, "{err}");
    }

    #[test]
    fn runaway_templates_run_out_of_fuel() {
        let tpl =
            "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
        let err = render(tpl, &json!({})).expect_err("bounded");
        assert!(
            matches!(&err, TemplateError::Limit { limit: TemplateLimit::Fuel, message, .. } if message.contains("fuel")),
            "{err}"
        );
    }

    #[test]
    fn lists_variables() {
        let vars =
            variables("{{ a }} {% for x in items %}{{ x }}{% endfor %} {{ b.c }}").expect("valid");
        assert_eq!(vars.into_iter().collect::<Vec<_>>(), ["a", "b", "items"]);
    }
}

#[cfg(test)]
mod budget_tests;
