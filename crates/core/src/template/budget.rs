//! The template memory budget: a bound, computed before MiniJinja compiles a template, on the
//! memory the template can ever use.
//!
//! Why before compiling, and why a bound rather than a meter: MiniJinja (2.24) limits
//! instructions (fuel) and recursion but not sizes. `~` and `+` concatenate without limit,
//! `*` repeats a string up to 100 MB, operators cannot be overridden, and the compiler folds
//! constant expressions (`"x" * 100000000`) while compiling, so even compiling a template can
//! allocate. So the parsed syntax tree is walked first, giving every expression an upper
//! bound of its *size* (a bound on both its heap bytes and its printed length) from the sizes
//! of its inputs — literals, the context (its whole printed size, times [`CONTEXT_FACTOR`]
//! for per-item overhead), earlier `set` variables — and one rule per operator and filter.
//! The walk adds up what is alive at once (every `set` value, the values a loop holds, the
//! temporaries of the expression being evaluated); more than [`MEMORY_BUDGET`] refuses the
//! template.
//!
//! The bound is sound because nothing else makes values: `set` inside a loop body does not
//! carry over to the next iteration (MiniJinja scopes it per iteration), so growth cannot
//! compound beyond what the tree shows, and what cannot be bounded is refused by name:
//! output capture (`{% set %}…{% endset %}`, `{% filter %}`, macros and `caller`, recursive
//! loops), `namespace` and attribute assignment, `include`/`import`/`extends`, `*` without a
//! number written on one side, filters and calls outside the table below. The environment
//! only carries the filters this table knows ([`super::env`]), and what a template prints
//! is capped separately ([`super::MAX_OUTPUT_BYTES`]).

use std::collections::HashMap;

use minijinja::machinery::ast::{self, BinOpKind, CallArg, Expr, Stmt};
use minijinja::machinery::{WhitespaceConfig, parse};
use minijinja::syntax::SyntaxConfig;

use super::{TemplateError, TemplateLimit};

/// Most bytes of template text. Captions and prompts are a few hundred; the walk below is
/// linear in this.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Most bytes the values of one render may hold at once (bounded from the syntax tree).
pub const MEMORY_BUDGET: u64 = 16 * 1024 * 1024;
/// Printed size of the context assumed when it is not known yet (syntax checks at save
/// time); rendering uses the real one.
pub const NOMINAL_CONTEXT_BYTES: u64 = 4 * 1024;
/// Heap bytes per printed byte of the context: a list prints as at least three bytes per
/// item (`1, `) and a copied item costs a 24-byte value plus its text.
pub const CONTEXT_FACTOR: u64 = 16;
/// Elements MiniJinja's `range` may produce (it refuses more).
const RANGE_MAX: u64 = 100_000;
/// Size of a number, a boolean or none (a value, and up to 40 printed digits).
const SCALAR: u64 = 64;
/// Overhead of one element of a list or map built by the template.
const ITEM: u64 = 32;
/// Growth of a string-to-list filter (`list`, `split`, `lines`, `items`, `unique`…): one
/// value of 24 bytes per character, at most twice over while the list grows.
const LISTIFY: u64 = 64;
/// Growth of HTML escaping (`"` becomes `&quot;`).
const ESCAPE: u64 = 6;
/// Growth of case mapping in UTF-8 bytes (`ΐ` is 2 bytes, its upper case 6).
const CASE: u64 = 3;

/// How a filter's result size follows from its input (`input`) and its arguments (`args`:
/// numbers written in the template count as their value, everything else as its size).
#[derive(Clone, Copy)]
pub(super) enum Rule {
    /// At most the input (a part, a reordering, the printed form of the input).
    Same,
    /// Case mapping.
    Case,
    /// A number or a boolean.
    Scalar,
    /// The input or an argument (`default`).
    Either,
    /// HTML escaping.
    Escape,
    /// Input times arguments (`replace`, `join`, `indent`).
    Product,
    /// A list made of the input's characters or lines.
    Listify,
    /// `map`: attribute mapping only (a filter name as argument would escape the table).
    MapAttribute,
}

/// The filters a template may use, and how big their result can be.
pub(super) const FILTERS: &[(&str, Rule)] = &[
    ("lower", Rule::Case),
    ("upper", Rule::Case),
    ("title", Rule::Case),
    ("capitalize", Rule::Case),
    ("trim", Rule::Same),
    ("reverse", Rule::Same),
    ("first", Rule::Same),
    ("last", Rule::Same),
    ("min", Rule::Same),
    ("max", Rule::Same),
    ("safe", Rule::Same),
    ("string", Rule::Same),
    ("attr", Rule::Same),
    ("select", Rule::Same),
    ("reject", Rule::Same),
    ("selectattr", Rule::Same),
    ("rejectattr", Rule::Same),
    ("length", Rule::Scalar),
    ("count", Rule::Scalar),
    ("abs", Rule::Scalar),
    ("int", Rule::Scalar),
    ("float", Rule::Scalar),
    ("round", Rule::Scalar),
    ("bool", Rule::Scalar),
    ("default", Rule::Either),
    ("d", Rule::Either),
    ("escape", Rule::Escape),
    ("e", Rule::Escape),
    ("replace", Rule::Product),
    ("join", Rule::Product),
    ("indent", Rule::Product),
    ("sort", Rule::Listify),
    ("unique", Rule::Listify),
    ("list", Rule::Listify),
    ("split", Rule::Listify),
    ("lines", Rule::Listify),
    ("items", Rule::Listify),
    ("dictsort", Rule::Listify),
    ("map", Rule::MapAttribute),
];

/// The global functions a template may call (`dict` copies its arguments; `range` is lazy).
pub(super) const FUNCTIONS: &[&str] = &["range", "dict"];

/// Refuses `source` unless its values fit [`MEMORY_BUDGET`] with a context that prints in
/// `context_bytes`.
///
/// # Errors
/// [`TemplateError::Syntax`] when it does not parse, [`TemplateError::Limit`] naming the
/// limit it breaks.
pub(super) fn check(source: &str, context_bytes: u64) -> Result<(), TemplateError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(TemplateError::Limit {
            limit: TemplateLimit::SourceBytes,
            line: 1,
            message: format!(
                "the template is {} bytes; at most {MAX_SOURCE_BYTES} are allowed",
                source.len()
            ),
        });
    }
    // A unit struct unless some crate enables MiniJinja's `custom_syntax`; `default()` keeps
    // this compiling either way.
    #[allow(clippy::default_constructed_unit_structs)]
    let tree = parse(
        source,
        "<template>",
        SyntaxConfig::default(),
        WhitespaceConfig::default(),
    )
    .map_err(|e| TemplateError::Syntax {
        line: e.line().unwrap_or(1),
        message: e
            .detail()
            .map_or_else(|| e.kind().to_string(), str::to_owned),
    })?;
    let mut walk = Walk {
        context: context_bytes.saturating_mul(CONTEXT_FACTOR),
        scope: HashMap::new(),
        live: 0,
    };
    walk.stmt(&tree)
}

/// An expression's bound: `size` of its value, `peak` bytes it allocates while evaluated
/// (its own result included; 0 for a reference to a value that already exists).
#[derive(Clone, Copy)]
struct Eval {
    size: u64,
    peak: u64,
}

impl Eval {
    /// What the result keeps allocated after evaluation.
    fn held(self) -> u64 {
        self.size.min(self.peak)
    }

    fn reference(size: u64) -> Self {
        Self { size, peak: 0 }
    }
}

/// Operands evaluated one after another, each result kept, then a result of `alloc` bytes
/// made from them.
fn combine(parts: &[Eval], size: u64, alloc: u64) -> Eval {
    let mut held = 0u64;
    let mut peak = 0u64;
    for part in parts {
        peak = peak.max(held.saturating_add(part.peak));
        held = held.saturating_add(part.held());
    }
    Eval {
        size,
        peak: peak.max(held.saturating_add(alloc)),
    }
}

fn line_of(expr: &Expr<'_>) -> usize {
    usize::from(expr.span().start_line)
}

fn refuse(line: usize, what: impl Into<String>) -> TemplateError {
    TemplateError::Limit {
        limit: TemplateLimit::Syntax,
        line,
        message: format!("{} (not allowed: its size cannot be bounded)", what.into()),
    }
}

/// A number written in the template, as a repeat count or width.
fn literal_count(expr: &Expr<'_>) -> Option<u64> {
    let Expr::Const(c) = expr else { return None };
    let v = &c.value;
    if v.is_number() {
        let n = f64::try_from(v.clone()).ok()?;
        // Saturating float-to-int conversion; a count is never negative.
        Some(n.abs().ceil() as u64)
    } else {
        None
    }
}

struct Walk<'s> {
    /// Size of any context value.
    context: u64,
    /// Sizes of variables set by the template.
    scope: HashMap<&'s str, u64>,
    /// Bytes held by enclosing statements: `set` values and loop iterables.
    live: u64,
}

impl<'s> Walk<'s> {
    fn budget(&self, line: usize, peak: u64) -> Result<(), TemplateError> {
        let total = self.live.saturating_add(peak);
        if total > MEMORY_BUDGET {
            return Err(TemplateError::Limit {
                limit: TemplateLimit::MemoryBytes,
                line,
                message: format!(
                    "values here may need up to {} bytes; a template may use at most {MEMORY_BUDGET}",
                    total
                ),
            });
        }
        Ok(())
    }

    fn body(&mut self, stmts: &[Stmt<'s>]) -> Result<(), TemplateError> {
        stmts.iter().try_for_each(|s| self.stmt(s))
    }

    /// Runs `f` in a child scope whose `set`s do not survive it.
    fn scoped(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<(), TemplateError>,
    ) -> Result<(), TemplateError> {
        let scope = self.scope.clone();
        let live = self.live;
        let out = f(self);
        self.scope = scope;
        self.live = live;
        out
    }

    fn bind(&mut self, target: &Expr<'s>, size: u64) -> Result<(), TemplateError> {
        match target {
            Expr::Var(v) => {
                self.scope.insert(v.id, size);
                Ok(())
            }
            Expr::List(l) => l.items.iter().try_for_each(|t| self.bind(t, size)),
            other => Err(refuse(
                line_of(other),
                "assigning to an attribute or item (`set ns.x = …`)",
            )),
        }
    }

    fn stmt(&mut self, stmt: &Stmt<'s>) -> Result<(), TemplateError> {
        match stmt {
            Stmt::Template(t) => self.body(&t.children),
            Stmt::EmitRaw(_) => Ok(()),
            Stmt::EmitExpr(e) => {
                let ev = self.expr(&e.expr)?;
                self.budget(line_of(&e.expr), ev.peak)
            }
            Stmt::Set(s) => {
                let ev = self.expr(&s.expr)?;
                self.budget(line_of(&s.expr), ev.peak)?;
                self.bind(&s.target, ev.size)?;
                self.live = self.live.saturating_add(ev.held());
                Ok(())
            }
            Stmt::IfCond(c) => {
                let ev = self.expr(&c.expr)?;
                self.budget(line_of(&c.expr), ev.peak)?;
                // `set` inside an `if` stays set: keep the larger outcome of both branches.
                let (scope, live) = (self.scope.clone(), self.live);
                self.body(&c.true_body)?;
                let after_true = std::mem::replace(&mut self.scope, scope);
                let live_true = std::mem::replace(&mut self.live, live);
                self.body(&c.false_body)?;
                for (name, size) in after_true {
                    let slot = self.scope.entry(name).or_insert(0);
                    *slot = (*slot).max(size);
                }
                self.live = self.live.saturating_add(live_true.saturating_sub(live));
                Ok(())
            }
            Stmt::ForLoop(f) => {
                let line = line_of(&f.iter);
                if f.recursive {
                    return Err(refuse(line, "a recursive `for` loop"));
                }
                let iter = self.expr(&f.iter)?;
                self.budget(line, iter.peak)?;
                self.scoped(|w| {
                    w.live = w.live.saturating_add(iter.held());
                    w.bind(&f.target, iter.size)?;
                    w.scope.insert("loop", iter.size.saturating_add(SCALAR));
                    if let Some(filter) = &f.filter_expr {
                        let ev = w.expr(filter)?;
                        w.budget(line_of(filter), ev.peak)?;
                    }
                    w.body(&f.body)
                })?;
                self.scoped(|w| w.body(&f.else_body))
            }
            Stmt::WithBlock(b) => self.scoped(|w| {
                for (target, value) in &b.assignments {
                    let ev = w.expr(value)?;
                    w.budget(line_of(value), ev.peak)?;
                    w.bind(target, ev.size)?;
                    w.live = w.live.saturating_add(ev.held());
                }
                w.body(&b.body)
            }),
            Stmt::AutoEscape(a) => {
                let ev = self.expr(&a.enabled)?;
                self.budget(line_of(&a.enabled), ev.peak)?;
                self.body(&a.body)
            }
            Stmt::SetBlock(s) => Err(refuse(
                line_of(&s.target),
                "`{% set %}…{% endset %}` (block capture)",
            )),
            Stmt::FilterBlock(b) => Err(refuse(line_of(&b.filter), "`{% filter %}` blocks")),
            Stmt::Do(d) => Err(refuse(line_of(&d.call.expr), "`{% do %}`")),
            other => Err(refuse(
                stmt_line(other),
                "macros, `call`, `include`, `import`, `extends` and blocks",
            )),
        }
    }

    fn expr(&mut self, expr: &Expr<'s>) -> Result<Eval, TemplateError> {
        let line = line_of(expr);
        let ev = match expr {
            Expr::Var(v) => Eval::reference(self.var(v.id)),
            Expr::Const(c) => {
                let size = match c.value.as_str() {
                    Some(s) => (s.len() as u64).saturating_add(ITEM),
                    None => SCALAR,
                };
                Eval { size, peak: size }
            }
            Expr::Slice(s) => {
                let mut parts = vec![self.expr(&s.expr)?];
                for e in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    parts.push(self.expr(e)?);
                }
                let size = parts[0].size;
                combine(&parts, size, size)
            }
            Expr::UnaryOp(u) => {
                let inner = self.expr(&u.expr)?;
                combine(&[inner], SCALAR, SCALAR)
            }
            Expr::BinOp(b) => self.binop(b, line)?,
            Expr::Compare(c) => {
                let mut parts = vec![self.expr(&c.expr)?];
                for op in &c.ops {
                    parts.push(self.expr(&op.expr)?);
                }
                combine(&parts, SCALAR, SCALAR)
            }
            Expr::IfExpr(i) => {
                let test = self.expr(&i.test_expr)?;
                let yes = self.expr(&i.true_expr)?;
                let no = match &i.false_expr {
                    Some(e) => self.expr(e)?,
                    None => Eval::reference(SCALAR),
                };
                Eval {
                    size: yes.size.max(no.size),
                    peak: test.peak.max(yes.peak).max(no.peak),
                }
            }
            Expr::Filter(f) => self.filter(f, line)?,
            Expr::Test(t) => {
                let mut parts = vec![self.expr(&t.expr)?];
                for arg in &t.args {
                    parts.push(self.expr(arg_expr(arg))?);
                }
                combine(&parts, SCALAR, SCALAR)
            }
            Expr::GetAttr(g) => {
                let inner = self.expr(&g.expr)?;
                combine(&[inner], inner.size, 0)
            }
            Expr::GetItem(g) => {
                let inner = self.expr(&g.expr)?;
                let sub = self.expr(&g.subscript_expr)?;
                // Indexing a string makes a one-character string; anything else is a part.
                combine(&[inner, sub], inner.size, SCALAR)
            }
            Expr::Call(c) => self.call(c, line)?,
            Expr::List(l) => {
                let mut parts = Vec::with_capacity(l.items.len());
                for item in &l.items {
                    parts.push(self.expr(item)?);
                }
                let size = collection_size(&parts);
                combine(&parts, size, size)
            }
            Expr::Map(m) => {
                let mut parts = Vec::with_capacity(m.keys.len() * 2);
                for (k, v) in m.keys.iter().zip(&m.values) {
                    parts.push(self.expr(k)?);
                    parts.push(self.expr(v)?);
                }
                let size = collection_size(&parts);
                combine(&parts, size, size)
            }
        };
        self.budget(line, ev.peak)?;
        Ok(ev)
    }

    fn var(&self, name: &str) -> u64 {
        match self.scope.get(name) {
            Some(size) => *size,
            None if FUNCTIONS.contains(&name) => SCALAR,
            None => self.context,
        }
    }

    fn binop(&mut self, b: &ast::BinOp<'s>, line: usize) -> Result<Eval, TemplateError> {
        let left = self.expr(&b.left)?;
        let right = self.expr(&b.right)?;
        let size = match b.op {
            BinOpKind::Concat | BinOpKind::Add => {
                left.size.saturating_add(right.size).saturating_add(SCALAR)
            }
            BinOpKind::Mul => match (literal_count(&b.left), literal_count(&b.right)) {
                (Some(n), _) => n.saturating_mul(right.size).saturating_add(SCALAR),
                (None, Some(n)) => n.saturating_mul(left.size).saturating_add(SCALAR),
                (None, None) => {
                    return Err(refuse(
                        line,
                        "`*` without a number written in the template on one side",
                    ));
                }
            },
            BinOpKind::ScAnd | BinOpKind::ScOr => {
                return Ok(Eval {
                    size: left.size.max(right.size),
                    peak: left.peak.max(right.peak),
                });
            }
            BinOpKind::Sub
            | BinOpKind::Div
            | BinOpKind::FloorDiv
            | BinOpKind::Rem
            | BinOpKind::Pow
            | BinOpKind::Eq
            | BinOpKind::Ne
            | BinOpKind::Lt
            | BinOpKind::Lte
            | BinOpKind::Gt
            | BinOpKind::Gte
            | BinOpKind::In => SCALAR,
        };
        Ok(combine(&[left, right], size, size))
    }

    fn args(&mut self, args: &[CallArg<'s>]) -> Result<(Vec<Eval>, u64), TemplateError> {
        let mut parts = Vec::with_capacity(args.len());
        let mut weight = 0u64;
        for arg in args {
            let e = arg_expr(arg);
            let ev = self.expr(e)?;
            weight = weight.saturating_add(literal_count(e).unwrap_or(ev.size));
            parts.push(ev);
        }
        Ok((parts, weight))
    }

    fn filter(&mut self, f: &ast::Filter<'s>, line: usize) -> Result<Eval, TemplateError> {
        let Some(rule) = FILTERS
            .iter()
            .find(|(name, _)| *name == f.name)
            .map(|(_, r)| *r)
        else {
            return Err(refuse(line, format!("the `{}` filter", f.name)));
        };
        let Some(input) = &f.expr else {
            return Err(refuse(line, "a filter without a value"));
        };
        let input = self.expr(input)?;
        let (mut parts, args) = self.args(&f.args)?;
        let n = input.size;
        let size = match rule {
            Rule::Same => n,
            Rule::Case => n.saturating_mul(CASE),
            Rule::Scalar => SCALAR,
            Rule::Either => parts.iter().map(|p| p.size).fold(n, u64::max),
            Rule::Escape => n.saturating_mul(ESCAPE),
            Rule::Product => n
                .saturating_add(ITEM)
                .saturating_mul(args.saturating_add(1)),
            Rule::Listify => n.saturating_add(ITEM).saturating_mul(LISTIFY),
            Rule::MapAttribute => {
                if f.args.iter().any(|a| !matches!(a, CallArg::Kwarg(..))) {
                    return Err(refuse(line, "`map` with a filter name (use `attribute=`)"));
                }
                n
            }
        };
        parts.insert(0, input);
        Ok(combine(&parts, size, size))
    }

    fn call(&mut self, c: &ast::Call<'s>, line: usize) -> Result<Eval, TemplateError> {
        let (parts, _) = self.args(&c.args)?;
        let size = match &c.expr {
            Expr::Var(v) if v.id == "range" && !self.scope.contains_key("range") => {
                let count = match c.args.as_slice() {
                    [CallArg::Pos(stop)] => literal_count(stop),
                    _ => None,
                };
                // Lazy in MiniJinja, but a filter may turn it into a list.
                count
                    .unwrap_or(RANGE_MAX)
                    .min(RANGE_MAX)
                    .saturating_mul(ITEM)
            }
            Expr::Var(v) if v.id == "dict" && !self.scope.contains_key("dict") => {
                collection_size(&parts)
            }
            Expr::GetAttr(g) if g.name == "cycle" && is_loop(&g.expr) => {
                parts.iter().map(|p| p.size).max().unwrap_or(SCALAR)
            }
            Expr::GetAttr(g) if g.name == "changed" && is_loop(&g.expr) => SCALAR,
            _ => {
                return Err(refuse(
                    line,
                    "calls other than `range()`, `dict()`, `loop.cycle()` and `loop.changed()`",
                ));
            }
        };
        Ok(combine(&parts, size, size))
    }
}

fn is_loop(expr: &Expr<'_>) -> bool {
    matches!(expr, Expr::Var(v) if v.id == "loop")
}

fn arg_expr<'a, 's>(arg: &'a CallArg<'s>) -> &'a Expr<'s> {
    match arg {
        CallArg::Pos(e) | CallArg::Kwarg(_, e) | CallArg::PosSplat(e) | CallArg::KwargSplat(e) => e,
    }
}

fn collection_size(parts: &[Eval]) -> u64 {
    parts.iter().fold(ITEM, |acc, p| {
        acc.saturating_add(p.size).saturating_add(ITEM)
    })
}

fn stmt_line(stmt: &Stmt<'_>) -> usize {
    let span = match stmt {
        Stmt::Template(s) => s.span(),
        Stmt::EmitExpr(s) => s.span(),
        Stmt::EmitRaw(s) => s.span(),
        Stmt::ForLoop(s) => s.span(),
        Stmt::IfCond(s) => s.span(),
        Stmt::WithBlock(s) => s.span(),
        Stmt::Set(s) => s.span(),
        Stmt::SetBlock(s) => s.span(),
        Stmt::AutoEscape(s) => s.span(),
        Stmt::FilterBlock(s) => s.span(),
        Stmt::Do(s) => s.span(),
        Stmt::Block(s) => s.span(),
        Stmt::Import(s) => s.span(),
        Stmt::FromImport(s) => s.span(),
        Stmt::Extends(s) => s.span(),
        Stmt::Include(s) => s.span(),
        Stmt::Macro(s) => s.span(),
        Stmt::CallBlock(s) => s.span(),
        // Statements of optional MiniJinja features carry no line we can reach without
        // naming each feature; the template's first line will do for the refusal.
        #[allow(unreachable_patterns)]
        _ => return 1,
    };
    usize::from(span.start_line)
}
