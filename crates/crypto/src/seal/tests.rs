use super::*;
use crate::KeyId;

fn aad(row: &str) -> Aad<'_> {
    Aad {
        workspace_id: "ws1",
        table: "accounts",
        column: "access_token",
        row_id: row,
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[test]
fn roundtrip_and_fresh_nonces() {
    let ring = Keyring::generate();
    let a = ring.seal(&secret("EAAG-token"), &aad("1")).expect("seal");
    let b = ring.seal(&secret("EAAG-token"), &aad("1")).expect("seal");
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.ciphertext, b.ciphertext);
    assert_eq!(
        ring.open(&a, &aad("1")).expect("open").expose_secret(),
        "EAAG-token"
    );
    let text = a.encode();
    assert!(!text.contains("EAAG"));
    assert!(text.starts_with(&format!("v1.{}.", ring.active_id())));
    assert_eq!(
        ring.open_str(&text, &aad("1"))
            .expect("open")
            .expose_secret(),
        "EAAG-token"
    );
}

#[test]
fn bound_to_row_workspace_and_column() {
    let ring = Keyring::generate();
    let s = ring.seal(&secret("t"), &aad("1")).expect("seal");
    assert!(matches!(
        ring.open(&s, &aad("2")),
        Err(CryptoError::Decrypt)
    ));
    let other_ws = Aad {
        workspace_id: "ws2",
        ..aad("1")
    };
    assert!(matches!(
        ring.open(&s, &other_ws),
        Err(CryptoError::Decrypt)
    ));
    let other_col = Aad {
        column: "refresh_token",
        ..aad("1")
    };
    assert!(matches!(
        ring.open(&s, &other_col),
        Err(CryptoError::Decrypt)
    ));
}

#[test]
fn tamper_wrong_key_and_garbage() {
    let ring = Keyring::generate();
    let mut s = ring.seal(&secret("t"), &aad("1")).expect("seal");
    s.ciphertext[0] ^= 1;
    assert!(matches!(
        ring.open(&s, &aad("1")),
        Err(CryptoError::Decrypt)
    ));
    let s = ring.seal(&secret("t"), &aad("1")).expect("seal");
    let other = Keyring::generate();
    assert!(matches!(
        other.open(&s, &aad("1")),
        Err(CryptoError::UnknownKey(_))
    ));
    let same_id = Keyring::single(
        KeyId::new(ring.active_id().as_str()).expect("id"),
        &secret(&"ab".repeat(32)),
    )
    .expect("ring");
    assert!(matches!(
        same_id.open(&s, &aad("1")),
        Err(CryptoError::Decrypt)
    ));
    for bad in ["", "v1", "v2.k.AAAA", "v1.k.!!!", "v1.k.AAAA"] {
        assert!(
            matches!(SealedToken::decode(bad), Err(CryptoError::Malformed(_))),
            "{bad}"
        );
    }
}

#[test]
fn rotation_keeps_old_records_readable_and_reseals_lazily() {
    let old = Keyring::generate();
    let s = old.seal(&secret("tok"), &aad("9")).expect("seal");
    let new = old.rotated();
    assert_ne!(new.active_id(), old.active_id());
    assert!(new.needs_rotation(&s.key_id));
    assert_eq!(
        new.open(&s, &aad("9"))
            .expect("old record opens")
            .expose_secret(),
        "tok"
    );
    let resealed = new
        .reseal_if_needed(&s, &aad("9"))
        .expect("reseal")
        .expect("was old");
    assert_eq!(resealed.key_id, new.active_id().as_str());
    assert!(
        new.reseal_if_needed(&resealed, &aad("9"))
            .expect("reseal")
            .is_none()
    );
    let mut retired = new.rotated();
    retired.retire(old.active_id()).expect("retire");
    assert!(matches!(
        retired.open(&s, &aad("9")),
        Err(CryptoError::UnknownKey(_))
    ));
    assert!(retired.retire(&retired.active_id().clone()).is_err());
}

#[test]
fn parse_export_and_files() {
    assert!(matches!(
        Keyring::parse(&secret("")),
        Err(CryptoError::NoKey)
    ));
    assert!(matches!(
        Keyring::parse(&secret("# nothing\n")),
        Err(CryptoError::NoKey)
    ));
    assert!(Keyring::parse(&secret("k1:abcd")).is_err());
    assert!(Keyring::parse(&secret(&format!("bad id:{}", "00".repeat(32)))).is_err());
    let text = format!("k2:{}, k1:{}", "11".repeat(32), "22".repeat(32));
    let ring = Keyring::parse(&secret(&text)).expect("parse");
    assert_eq!(ring.active_id().as_str(), "k2");
    assert_eq!(ring.key_ids().count(), 2);
    assert!(
        !format!("{ring:?}").contains("1111"),
        "Debug leaks key bytes"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys/token.keys");
    let (gen1, generated) = Keyring::load_or_generate(&path).expect("generate");
    assert!(generated);
    let (gen2, generated) = Keyring::load_or_generate(&path).expect("load");
    assert!(!generated);
    assert_eq!(gen1.active_id(), gen2.active_id());
    let s = gen1.seal(&secret("x"), &aad("1")).expect("seal");
    assert_eq!(gen2.open(&s, &aad("1")).expect("open").expose_secret(), "x");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "key file readable by others");
    }
    let rotated = gen2.rotated();
    rotated.write_file(&path).expect("write");
    let reread = Keyring::load_file(&path).expect("reload");
    assert_eq!(reread.active_id(), rotated.active_id());
    assert_eq!(
        reread
            .open(&s, &aad("1"))
            .expect("old key kept")
            .expose_secret(),
        "x"
    );
}

#[test]
fn load_prefers_inline_and_refuses_nothing() {
    assert!(matches!(Keyring::load(None, None), Err(CryptoError::NoKey)));
    assert!(matches!(
        Keyring::load(Some(&secret("  ")), None),
        Err(CryptoError::NoKey)
    ));
    let inline = secret(&format!("env1:{}", "33".repeat(32)));
    assert_eq!(
        Keyring::load(Some(&inline), None)
            .expect("inline")
            .active_id()
            .as_str(),
        "env1"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k");
    Keyring::generate().write_file(&path).expect("write");
    assert!(Keyring::load(None, Some(&path)).is_ok());
    assert!(Keyring::load(None, Some(&dir.path().join("missing"))).is_err());
}

#[test]
fn derived_keys_are_stable_per_ring_and_purpose_and_change_on_rotation() {
    let ring = Keyring::generate();
    let a = ring.derive_key("media-links").expect("derive");
    assert_eq!(a, ring.derive_key("media-links").expect("derive"));
    assert_ne!(a, ring.derive_key("other").expect("derive"));
    let reloaded = Keyring::parse(&ring.export()).expect("parse");
    assert_eq!(a, reloaded.derive_key("media-links").expect("derive"));
    assert_ne!(a, ring.rotated().derive_key("media-links").expect("derive"));
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The key file is replaced whole and owner-only; nothing else is left in its directory,
/// even when the write fails (a temporary file would hold every key).
#[test]
fn write_file_replaces_the_file_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keyring");
    let first = Keyring::generate();
    first.write_file(&path).expect("write");
    let second = first.rotated();
    second.write_file(&path).expect("overwrite");
    assert_eq!(names(dir.path()), ["keyring"]);
    let reread = Keyring::load_file(&path).expect("reload");
    assert_eq!(reread.active_id(), second.active_id());
    assert_eq!(reread.key_ids().count(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "key file readable by others");
    }

    // The rename fails: a non-empty directory stands where the file should go.
    let taken = dir.path().join("taken");
    std::fs::create_dir_all(taken.join("inside")).expect("mkdir");
    assert!(second.write_file(&taken).is_err());
    assert_eq!(names(dir.path()), ["keyring", "taken"]);
}
