//! SQLite's single-instance lock.

use pressroom_store::{InstanceLock, StoreError};

#[test]
fn a_second_instance_is_refused_while_the_first_holds_the_lock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("pressroom.db");

    let first = InstanceLock::acquire(&db).expect("first acquire");
    assert_eq!(first.path(), dir.path().join("pressroom.lock"));
    assert!(first.path().exists());

    match InstanceLock::acquire(&db) {
        Err(StoreError::AlreadyRunning(what)) => {
            assert!(what.contains("pressroom.db"), "names the database: {what}")
        }
        other => panic!("second acquire must fail with AlreadyRunning, got {other:?}"),
    }
    // Still refused on a retry: the refusal did not disturb the holder.
    assert!(matches!(
        InstanceLock::acquire(&db),
        Err(StoreError::AlreadyRunning(_))
    ));

    // Another database beside it is independent.
    let other = InstanceLock::acquire(&dir.path().join("other.db")).expect("other database");

    drop(first);
    let again = InstanceLock::acquire(&db).expect("acquire after the holder dropped its lock");
    // The stale lock file left behind does not block anyone: only the OS lock counts.
    assert!(again.path().exists());
    drop(again);
    drop(other);
    InstanceLock::acquire(&db).expect("and once more");
}
