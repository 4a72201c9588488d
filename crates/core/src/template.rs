//! Prompt and caption templates: MiniJinja with strict undefined variables.
//!
//! Strict because a typo in a variable must stop a run with a clear error rather than
//! publish a caption with a hole in it. One environment per call: templates are short
//! and this keeps the functions pure and thread-safe.

use std::collections::BTreeSet;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use thiserror::Error;

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
}

impl TemplateError {
    /// 1-based line in the template.
    pub fn line(&self) -> usize {
        match self {
            Self::Syntax { line, .. }
            | Self::Undefined { line, .. }
            | Self::Render { line, .. } => *line,
        }
    }
}

/// Instructions one render may execute. Captions and prompts need a few hundred; the
/// cap stops a template from the API (`{% for i in range(100000) %}` nested) from
/// pinning a worker.
pub const FUEL: u64 = 1_000_000;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

fn message(err: &minijinja::Error) -> String {
    err.detail()
        .map_or_else(|| err.kind().to_string(), str::to_owned)
}

/// Checks that `template` compiles.
///
/// # Errors
/// [`TemplateError::Syntax`] with the line of the problem.
pub fn check_syntax(template: &str) -> Result<(), TemplateError> {
    let env = environment();
    env.template_from_str(template)
        .map(|_| ())
        .map_err(|e| TemplateError::Syntax {
            line: e.line().unwrap_or(1),
            message: message(&e),
        })
}

/// Renders `template` with `vars` (a JSON object; its keys are the variables).
///
/// # Errors
/// [`TemplateError::Syntax`]; [`TemplateError::Undefined`] naming the missing variable
/// (as written in the template, e.g. `product.name`); [`TemplateError::Render`] for
/// other runtime errors (a failing filter, a type error).
pub fn render(template: &str, vars: &serde_json::Value) -> Result<String, TemplateError> {
    let env = environment();
    let compiled = env
        .template_from_str(template)
        .map_err(|e| TemplateError::Syntax {
            line: e.line().unwrap_or(1),
            message: message(&e),
        })?;
    compiled.render(vars).map_err(|e| {
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
                message: message(&e),
            }
        }
    })
}

/// The variables a template reads from its context (top-level names only, sorted;
/// built-in globals such as `range` are left out). Lets validation report a variable
/// that neither the campaign nor the run provides.
///
/// # Errors
/// [`TemplateError::Syntax`].
pub fn variables(template: &str) -> Result<BTreeSet<String>, TemplateError> {
    let env = environment();
    let compiled = env
        .template_from_str(template)
        .map_err(|e| TemplateError::Syntax {
            line: e.line().unwrap_or(1),
            message: message(&e),
        })?;
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
            matches!(&err, TemplateError::Render { message, .. } if message.contains("fuel")),
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
