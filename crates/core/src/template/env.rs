//! The MiniJinja environment templates run in, and the writer that caps what they print.
//!
//! The environment starts empty and gets only the filters and functions the budget
//! ([`super::budget`]) has a size rule for, so a name the checker did not model cannot be
//! called even if the checker were bypassed. Tests are all cheap (they answer a boolean) and
//! are kept from MiniJinja's defaults.

use std::io;

use minijinja::{Environment, UndefinedBehavior, filters, functions, tests};

use super::FUEL;
use super::budget::{FILTERS, FUNCTIONS};

/// Most bytes one render may print. Facebook's 63,206-character post limit is the largest
/// caption a platform takes (up to 4 UTF-8 bytes each).
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024;

pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::empty();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    for (name, _) in FILTERS {
        add_filter(&mut env, name);
    }
    for name in FUNCTIONS {
        match *name {
            "range" => env.add_function("range", functions::range),
            "dict" => env.add_function("dict", functions::dict),
            _ => {}
        }
    }
    add_tests(&mut env);
    env
}

fn add_filter(env: &mut Environment<'static>, name: &'static str) {
    match name {
        "lower" => env.add_filter(name, filters::lower),
        "upper" => env.add_filter(name, filters::upper),
        "title" => env.add_filter(name, filters::title),
        "capitalize" => env.add_filter(name, filters::capitalize),
        "trim" => env.add_filter(name, filters::trim),
        "reverse" => env.add_filter(name, filters::reverse),
        "first" => env.add_filter(name, filters::first),
        "last" => env.add_filter(name, filters::last),
        "min" => env.add_filter(name, filters::min),
        "max" => env.add_filter(name, filters::max),
        "safe" => env.add_filter(name, filters::safe),
        "string" => env.add_filter(name, filters::string),
        "attr" => env.add_filter(name, filters::attr),
        "select" => env.add_filter(name, filters::select),
        "reject" => env.add_filter(name, filters::reject),
        "selectattr" => env.add_filter(name, filters::selectattr),
        "rejectattr" => env.add_filter(name, filters::rejectattr),
        "length" | "count" => env.add_filter(name, filters::length),
        "abs" => env.add_filter(name, filters::abs),
        "int" => env.add_filter(name, filters::int),
        "float" => env.add_filter(name, filters::float),
        "round" => env.add_filter(name, filters::round),
        "bool" => env.add_filter(name, filters::bool),
        "default" | "d" => env.add_filter(name, filters::default),
        "escape" | "e" => env.add_filter(name, filters::escape),
        "replace" => env.add_filter(name, filters::replace),
        "join" => env.add_filter(name, filters::join),
        "indent" => env.add_filter(name, filters::indent),
        "sort" => env.add_filter(name, filters::sort),
        "unique" => env.add_filter(name, filters::unique),
        "list" => env.add_filter(name, filters::list),
        "split" => env.add_filter(name, filters::split),
        "lines" => env.add_filter(name, filters::lines),
        "items" => env.add_filter(name, filters::items),
        "dictsort" => env.add_filter(name, filters::dictsort),
        "map" => env.add_filter(name, filters::map),
        _ => {}
    }
}

fn add_tests(env: &mut Environment<'static>) {
    env.add_test("defined", tests::is_defined);
    env.add_test("undefined", tests::is_undefined);
    env.add_test("none", tests::is_none);
    env.add_test("boolean", tests::is_boolean);
    env.add_test("odd", tests::is_odd);
    env.add_test("even", tests::is_even);
    env.add_test("divisibleby", tests::is_divisibleby);
    env.add_test("number", tests::is_number);
    env.add_test("integer", tests::is_integer);
    env.add_test("float", tests::is_float);
    env.add_test("string", tests::is_string);
    env.add_test("sequence", tests::is_sequence);
    env.add_test("iterable", tests::is_iterable);
    env.add_test("mapping", tests::is_mapping);
    env.add_test("startingwith", tests::is_startingwith);
    env.add_test("endingwith", tests::is_endingwith);
    env.add_test("lower", tests::is_lower);
    env.add_test("upper", tests::is_upper);
    env.add_test("eq", tests::is_eq);
    env.add_test("ne", tests::is_ne);
    env.add_test("lt", tests::is_lt);
    env.add_test("le", tests::is_le);
    env.add_test("gt", tests::is_gt);
    env.add_test("ge", tests::is_ge);
    env.add_test("in", tests::is_in);
    env.add_test("true", tests::is_true);
    env.add_test("false", tests::is_false);
}

/// A writer into a string that refuses to grow past [`MAX_OUTPUT_BYTES`].
#[derive(Default)]
pub(super) struct CappedOutput {
    pub text: Vec<u8>,
    pub exceeded: bool,
}

impl io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.text.len().saturating_add(buf.len()) > MAX_OUTPUT_BYTES {
            self.exceeded = true;
            return Err(io::Error::other("template output over the limit"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
