//! A typed walk over a parsed TOML table that records every problem it meets.
//!
//! serde's derive stops at the first error, but `campaign validate` must print all of
//! them, so the campaign is read field by field from `toml::de::DeTable` (which keeps
//! the span of every key and value). Each accessor reports a wrong type itself and
//! returns `None`; `finish` reports the keys nobody asked for (the equivalent of
//! `deny_unknown_fields`).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::issue::SpecIssue;

/// Supplies the text of a template file named in a campaign (`prompt_file`, …).
pub type TemplateFiles<'f> = &'f dyn Fn(&str) -> Option<String>;

/// Where issues go while one file is read.
pub(crate) struct Sink<'s> {
    pub file: &'s str,
    pub source: &'s str,
    pub files: TemplateFiles<'s>,
    pub issues: Vec<SpecIssue>,
    /// Templates that compiled, kept to check their variables once `[variables]` is read.
    pub templates: Vec<TemplateUse>,
}

/// A template field that compiled, and where it sits in the file.
pub(crate) struct TemplateUse {
    pub span: Range<usize>,
    pub field: String,
    pub text: String,
}

impl<'s> Sink<'s> {
    pub fn new(file: &'s str, source: &'s str, files: TemplateFiles<'s>) -> Self {
        Self {
            file,
            source,
            files,
            issues: Vec::new(),
            templates: Vec::new(),
        }
    }

    pub fn push(&mut self, span: Range<usize>, field: &str, message: impl Into<String>) {
        self.issues
            .push(SpecIssue::at(self.file, self.source, span, field, message));
    }
}

/// A value with the dotted path and span it came from.
pub(crate) struct Item<'a, 'i> {
    pub path: String,
    pub value: &'a Spanned<DeValue<'i>>,
}

impl<'a, 'i> Item<'a, 'i> {
    pub fn span(&self) -> Range<usize> {
        self.value.span()
    }

    /// The value as a string, or an issue naming the type found.
    pub fn string(&self, sink: &mut Sink<'_>) -> Option<Spanned<String>> {
        match self.value.get_ref() {
            DeValue::String(s) => Some(Spanned::new(self.span(), s.to_string())),
            other => {
                self.wrong_type(sink, "a string", other);
                None
            }
        }
    }

    /// The value as an integer (any radix TOML allows).
    pub fn integer(&self, sink: &mut Sink<'_>) -> Option<Spanned<i128>> {
        match self.value.get_ref() {
            DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(Spanned::new(self.span(), n)),
                Err(_) => {
                    sink.push(self.span(), &self.path, "integer out of range");
                    None
                }
            },
            other => {
                self.wrong_type(sink, "an integer", other);
                None
            }
        }
    }

    /// The value as a float; integers are accepted (`guidance = 7` means 7.0).
    pub fn float(&self, sink: &mut Sink<'_>) -> Option<Spanned<f64>> {
        let parsed = match self.value.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            other => {
                self.wrong_type(sink, "a number", other);
                return None;
            }
        };
        match parsed {
            Some(f) if f.is_finite() => Some(Spanned::new(self.span(), f)),
            _ => {
                sink.push(self.span(), &self.path, "must be a finite number");
                None
            }
        }
    }

    /// The value as a boolean.
    pub fn boolean(&self, sink: &mut Sink<'_>) -> Option<Spanned<bool>> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Some(Spanned::new(self.span(), *b)),
            other => {
                self.wrong_type(sink, "a boolean", other);
                None
            }
        }
    }

    /// The value as a table, ready to be read.
    pub fn table(&self, sink: &mut Sink<'_>) -> Option<Reader<'a, 'i>> {
        match self.value.get_ref() {
            DeValue::Table(t) => Some(Reader::new(t, self.path.clone(), self.span())),
            other => {
                self.wrong_type(sink, "a table", other);
                None
            }
        }
    }

    /// The value as an array.
    pub fn array(&self, sink: &mut Sink<'_>) -> Option<&'a DeArray<'i>> {
        match self.value.get_ref() {
            DeValue::Array(a) => Some(a),
            other => {
                self.wrong_type(sink, "an array", other);
                None
            }
        }
    }

    fn wrong_type(&self, sink: &mut Sink<'_>, expected: &str, found: &DeValue<'_>) {
        sink.push(
            self.span(),
            &self.path,
            format!("expected {expected}, found {}", found.type_str()),
        );
    }
}

/// Reads the fields of one table and remembers which were read.
pub(crate) struct Reader<'a, 'i> {
    table: &'a DeTable<'i>,
    path: String,
    span: Range<usize>,
    known: Vec<&'static str>,
}

impl<'a, 'i> Reader<'a, 'i> {
    pub fn new(table: &'a DeTable<'i>, path: String, span: Range<usize>) -> Self {
        Self {
            table,
            path,
            span,
            known: Vec::new(),
        }
    }

    /// Span of the whole table (used for "missing field" issues).
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// Dotted path of a field of this table.
    pub fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The field `key`, if present. Declares `key` as known either way.
    pub fn get(&mut self, key: &'static str) -> Option<Item<'a, 'i>> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        let table = self.table;
        table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, value)| Item {
                path: self.child_path(key),
                value,
            })
    }

    /// The field `key`, or an issue saying it is missing.
    pub fn require(&mut self, sink: &mut Sink<'_>, key: &'static str) -> Option<Item<'a, 'i>> {
        let item = self.get(key);
        if item.is_none() {
            sink.push(self.span(), &self.child_path(key), "missing required field");
        }
        item
    }

    /// Whether `key` is present (declares it known).
    pub fn has(&mut self, key: &'static str) -> bool {
        self.get(key).is_some()
    }

    /// Every entry with its key's span, for free-form tables (no unknown-field check).
    pub fn entries(self) -> impl Iterator<Item = (&'a str, Range<usize>, &'a DeValue<'i>)> {
        self.table
            .iter()
            .map(|(k, v)| (k.get_ref().as_ref(), k.span(), v.get_ref()))
    }

    /// Reports every key that no accessor asked for.
    pub fn finish(self, sink: &mut Sink<'_>) {
        for (key, _) in self.table.iter() {
            let name = key.get_ref().as_ref();
            if !self.known.contains(&name) {
                let expected = self
                    .known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                sink.push(
                    key.span(),
                    &self.child_path(name),
                    format!("unknown field `{name}`, expected one of {expected}"),
                );
            }
        }
    }
}
