//! Template bombs: each must fail fast with the limit named, without the memory growing.

use serde_json::json;

use super::*;

/// Resident memory of this process in bytes (Linux), from `/proc/self/status`.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number");
    kb * 1024
}

const GROWTH_LIMIT: u64 = 64 * 1024 * 1024;

fn assert_limit(template: &str, limit: TemplateLimit) {
    let before = rss_bytes();
    let err = render(template, &json!({"name": "tea"})).expect_err("refused");
    let grown = rss_bytes().saturating_sub(before);
    assert_eq!(err.limit(), Some(limit), "{template}: {err}");
    assert!(err.to_string().contains(limit.as_str()), "{err}");
    assert!(grown < GROWTH_LIMIT, "{template}: RSS grew {grown} bytes");
}

#[test]
fn the_audit_bomb_is_refused_before_it_allocates() {
    let bomb = r#"{% set a="x"*100000000 %}{% set b=a~a~a~a %}{{ b }}"#;
    assert_limit(bomb, TemplateLimit::MemoryBytes);
    // Compiling alone folded the constant into 100 MB; the check comes first everywhere.
    let err = check_syntax(r#"{{ "x" * 100000000 }}"#).expect_err("refused");
    assert_eq!(err.limit(), Some(TemplateLimit::MemoryBytes), "{err}");
    let err = variables(r#"{{ "x" * 100000000 ~ name }}"#).expect_err("refused");
    assert_eq!(err.limit(), Some(TemplateLimit::MemoryBytes), "{err}");
}

#[test]
fn doubling_with_set_is_refused() {
    let mut bomb = String::from(r#"{% set a = "xxxxxxxxxxxxxxxx" %}"#);
    for _ in 0..40 {
        bomb.push_str("{% set a = a ~ a %}");
    }
    bomb.push_str("{{ a | length }}");
    assert_limit(&bomb, TemplateLimit::MemoryBytes);
    let nested = format!("{{{{ {}name{} }}}}", "(".repeat(30), " ~ name)".repeat(30));
    // Linear, not doubling: thirty concatenations of a small context fit.
    assert!(render(&nested, &json!({"name": "x"})).is_ok());
}

#[test]
fn filter_bombs_are_refused() {
    for bomb in [
        r#"{{ range(100000) | join("x" * 1000) }}"#,
        r#"{{ ("x" * 1000) | replace("x", "y" * 100000) }}"#,
        r#"{{ ("x" * 100000) | indent(1000) }}"#,
        r#"{{ ("x" * 1000000) | list | list | length }}"#,
        r#"{% set a = name | replace("", name ~ name ~ name ~ name) %}{% set b = a | replace("", a) %}{{ b }}"#,
    ] {
        assert_limit(bomb, TemplateLimit::MemoryBytes);
    }
}

#[test]
fn unboundable_constructs_are_refused_by_name() {
    for (bomb, what) in [
        (
            "{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}{{ d(d(name)) }}",
            "macros",
        ),
        (
            "{% set a %}{{ name }}{{ name }}{% endset %}{{ a }}",
            "block capture",
        ),
        ("{% filter upper %}{{ name }}{% endfilter %}", "filter"),
        (
            "{% set ns = namespace(a=name) %}{% set ns.a = ns.a ~ ns.a %}",
            "calls other than",
        ),
        ("{{ name * n }}", "`*` without a number"),
        ("{{ name | center(100000000) }}", "`center` filter"),
        ("{{ '%100000000s' | format(name) }}", "`format` filter"),
        (
            "{{ names | map('center', 100000000) }}",
            "`map` with a filter name",
        ),
        (
            "{% for x in xs recursive %}{{ loop(x) }}{% endfor %}",
            "recursive",
        ),
    ] {
        let err =
            render(bomb, &json!({"name": "x", "n": 3, "xs": [], "names": []})).expect_err(bomb);
        assert_eq!(err.limit(), Some(TemplateLimit::Syntax), "{bomb}: {err}");
        assert!(err.to_string().contains(what), "{bomb}: {err}");
    }
}

#[test]
fn output_and_fuel_are_capped() {
    assert_limit(
        r#"{% for i in range(10000) %}{{ "x" * 100 }}{% endfor %}"#,
        TemplateLimit::OutputBytes,
    );
    assert_limit(
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        TemplateLimit::Fuel,
    );
}

#[test]
fn ordinary_templates_fit() {
    let vars = json!({
        "product": {"name": "Tea", "tags": ["green", "hot"], "price": 4.5},
        "run": {"weekday": "Monday"},
    });
    let out = render(
        "{% set title = product.name ~ ' on ' ~ run.weekday %}{{ title | upper }} {{ '-' * 3 }} \
         {% for t in product.tags %}#{{ t | replace(' ', '') }}{% if not loop.last %} {% endif %}{% endfor %} \
         {{ product.tags | join(', ') }} {{ (product.price * 1.2) | round(2) }} {{ missing | default('x') }}",
        &vars,
    );
    assert_eq!(
        out.as_deref(),
        Ok("TEA ON MONDAY --- #green #hot green, hot 5.4 x")
    );
    // A set inside a loop starts again each iteration, so this doubles once, not fifty times.
    let out = render(
        "{% set a = 'ab' %}{% for i in range(50) %}{% set a = a ~ a %}{% endfor %}{{ a }}",
        &json!({}),
    );
    assert_eq!(out.as_deref(), Ok("ab"));
}
