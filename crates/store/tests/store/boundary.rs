//! Keeps sea-orm private to the store: no crate of the workspace other than the store and the
//! migrations depends on sea-orm or names it in its code, so every query, page and lock stays
//! in a repository. Test code may reach the store's sea-orm only through
//! `pressroom_store::testing` (raw SQL on rows no repository reads back). One exception: the
//! typed ids and state enums in `pressroom-core` map to a TEXT column (feature `sea-orm`,
//! which only the store turns on), so the store's rows can carry them; that maps a type, it
//! runs no query.

use std::path::{Path, PathBuf};

/// The workspace root (this crate is `crates/store`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Directories never scanned: the store and migrations own sea-orm; the rest is not source.
fn skipped(root: &Path, dir: &Path) -> bool {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.starts_with('.')
        || name == "target"
        || name == "node_modules"
        || dir == root.join("crates/store")
        || dir == root.join("migrations")
}

/// Files that may name sea-orm outside the store: the column mapping of core's typed ids
/// and state enums.
fn column_mapping(root: &Path, path: &Path) -> bool {
    [
        "crates/core/Cargo.toml",
        "crates/core/src/ids.rs",
        "crates/core/src/lib.rs",
    ]
    .iter()
    .any(|f| path == root.join(f))
}

/// Every `Cargo.toml` and `.rs` file under `dir`, skipped directories left out.
fn files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Symlinks (the .venv) are not followed.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !skipped(root, &path) {
                files(root, &path, out);
            }
        } else if kind.is_file()
            && (path.extension().is_some_and(|e| e == "rs")
                || path.file_name().is_some_and(|n| n == "Cargo.toml"))
            // The workspace's manifest pins the version the store uses; no crate gets it there.
            && path != root.join("Cargo.toml")
            && !column_mapping(root, &path)
        {
            out.push(path);
        }
    }
}

/// Test code: a crate's `tests/` folder, or the end-to-end crate at the root's `tests/`.
fn is_test_code(root: &Path, path: &Path) -> bool {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().any(|c| c.as_os_str() == "tests")
}

/// What is wrong with one file, one line each.
fn violations(root: &Path, path: &Path, text: &str) -> Vec<String> {
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("{rel}:{}: {}", n + 1, line.trim());
        if path.extension().is_some_and(|e| e == "toml") {
            let key = line.trim_start();
            if key.starts_with("sea-orm") || key.starts_with("sea_orm") {
                found.push(format!("{at} (depends on sea-orm)"));
            }
            continue;
        }
        let test = is_test_code(root, path);
        let names_sea_orm = line.contains("use sea_orm")
            || line
                .match_indices("sea_orm::")
                .any(|(i, _)| !(test && line[..i].ends_with("testing::")));
        if names_sea_orm {
            found.push(format!("{at} (names sea-orm)"));
        } else if line.contains("testing::schema") && !test {
            found.push(format!("{at} (the store's entities outside tests)"));
        }
    }
    found
}

#[test]
fn only_the_store_uses_sea_orm() {
    let root = workspace_root();
    let mut all = Vec::new();
    files(&root, &root, &mut all);
    assert!(
        all.iter()
            .any(|p| p.ends_with("crates/api/src/handlers/runs.rs")),
        "the scan did not reach the API's handlers under {}",
        root.display()
    );
    let mut found = Vec::new();
    for path in &all {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        found.extend(violations(&root, path, &text));
    }
    assert!(
        found.is_empty(),
        "sea-orm is private to pressroom-store: move these queries into a repository \
         (crates/store/src/repo), or in tests reach it through pressroom_store::testing:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_what_it_forbids() {
    let root = workspace_root();
    let src = root.join("crates/api/src/handlers/runs.rs");
    let test = root.join("crates/api/tests/api/harness.rs");
    let manifest = root.join("crates/api/Cargo.toml");
    for (path, text) in [
        (
            &src,
            "use pressroom_store::sea_orm::{ColumnTrait, EntityTrait};",
        ),
        (
            &src,
            "let x = pressroom_store::testing::sea_orm::Value::from(1);",
        ),
        (&src, "use pressroom_store::testing::schema::run;"),
        (&test, "use sea_orm::EntityTrait;"),
        (&test, "pressroom_store::sea_orm::Statement::from_string("),
        (&manifest, "sea-orm.workspace = true"),
    ] {
        assert_eq!(violations(&root, path, text).len(), 1, "{text}");
    }
    for (path, text) in [
        (
            &test,
            "use pressroom_store::testing::sea_orm::{ConnectionTrait, Statement};",
        ),
        (&src, "\"{},sqlx=warn,sea_orm=warn\""),
        (&src, "use pressroom_store::repo::runs;"),
        (&manifest, "pressroom-store.workspace = true"),
    ] {
        assert!(violations(&root, path, text).is_empty(), "{text}");
    }
}
