use std::time::Duration;

use connector_meta_graph::map_error;
use pressroom_connector::ConnectorError;

use super::*;

fn body(code: i64, sub: Option<i64>) -> Vec<u8> {
    let mut e = serde_json::json!({"error":{"message":"m","type":"OAuthException","code":code,"fbtrace_id":"T"}});
    if let Some(s) = sub {
        e["error"]["error_subcode"] = s.into();
    }
    e.to_string().into_bytes()
}

fn map(status: u16, code: i64, sub: Option<i64>) -> ConnectorError {
    map_error(
        status,
        &body(code, sub),
        None,
        None,
        Duration::from_secs(3600),
        true,
        classify_code,
    )
}

#[test]
fn every_documented_code() {
    use Class::*;
    let table: &[(i64, Option<i64>, Class)] = &[
        (190, None, AuthExpired),
        (190, Some(463), AuthExpired),
        (190, Some(467), AuthExpired),
        (190, Some(492), AuthExpired),
        (190, Some(458), Disconnected),
        (190, Some(459), Disconnected),
        (190, Some(460), Disconnected),
        (190, Some(464), Disconnected),
        (102, None, AuthExpired),
        (1, None, Ambiguous),
        (2, None, Ambiguous),
        (4, None, Throttled),
        (17, None, Throttled),
        (32, None, Throttled),
        (341, None, Throttled),
        (613, None, Throttled),
        (80000, None, Throttled),
        (80001, None, Throttled),
        (80002, None, Throttled),
        (80004, None, Throttled),
        (80009, None, Throttled),
        (80014, None, Throttled),
        (10, None, Disconnected),
        (200, None, Disconnected),
        (230, None, Disconnected),
        (299, None, Disconnected),
        (100, None, Rejected),
        (368, None, Rejected),
        (506, None, Rejected),
        (100, Some(1366046), Rejected),
        (368, Some(1346003), Rejected),
        (100, Some(1366051), Rejected),
        (100, Some(2069019), Rejected),
        (100, Some(1390008), Throttled),
        (200, Some(1404078), Disconnected),
        (368, Some(4854002), Disconnected),
        (2, Some(1363047), Transient),
        (1, Some(1609010), Transient),
        (99999, None, Rejected),
    ];
    for (code, sub, want) in table {
        assert_eq!(
            classify_code(*code, *sub, None),
            *want,
            "code {code} sub {sub:?}"
        );
    }
    assert_eq!(classify_code(12345, None, Some(true)), Ambiguous);
}

#[test]
fn mapping_to_connector_errors() {
    assert!(matches!(
        map(400, 190, Some(463)),
        ConnectorError::AuthExpired
    ));
    assert!(matches!(
        map(400, 190, Some(460)),
        ConnectorError::Disconnected(_)
    ));
    // On the publish call a generic code 1/2 is ambiguous (the post may exist): reconcile.
    assert!(matches!(
        map(500, 2, None),
        ConnectorError::OutcomeUnknown(_)
    ));
    assert!(matches!(
        map(500, 1, None),
        ConnectorError::OutcomeUnknown(_)
    ));
    let read = map_error(
        500,
        &body(2, None),
        None,
        None,
        Duration::from_secs(3600),
        false,
        classify_code,
    );
    assert!(matches!(read, ConnectorError::Transient(_)), "{read:?}");
    match map(400, 506, None) {
        ConnectorError::Rejected(r) => assert!(r.contains("code 506"), "{r}"),
        other => panic!("{other:?}"),
    }
    match map(400, 32, None) {
        ConnectorError::RateLimited { retry_after } => {
            assert_eq!(retry_after, Some(Duration::from_secs(3600)))
        }
        other => panic!("{other:?}"),
    }
    let named = map_error(
        400,
        &body(80001, None),
        None,
        Some(Duration::from_secs(120)),
        Duration::from_secs(3600),
        false,
        classify_code,
    );
    assert!(
        matches!(named, ConnectorError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(120))
    );
}

#[test]
fn non_graph_bodies_fall_back_on_status() {
    let f = Duration::from_secs(60);
    assert!(matches!(
        map_error(502, b"<html>", None, None, f, true, classify_code),
        ConnectorError::OutcomeUnknown(_)
    ));
    assert!(matches!(
        map_error(502, b"<html>", None, None, f, false, classify_code),
        ConnectorError::Transient(_)
    ));
    assert!(matches!(
        map_error(429, b"", Some(Duration::from_secs(9)), None, f, true, classify_code),
        ConnectorError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(9)
    ));
    assert!(matches!(
        map_error(401, b"", None, None, f, false, classify_code),
        ConnectorError::AuthExpired
    ));
    assert!(matches!(
        map_error(404, b"", None, None, f, false, classify_code),
        ConnectorError::Rejected(_)
    ));
}

#[test]
fn reason_carries_user_message() {
    let e = GraphError::parse(br#"{"error":{"message":"(#100) bad","code":100,"error_subcode":1366046,"error_user_msg":"Photos should be smaller than 4 MB"}}"#)
        .expect("parse");
    assert_eq!(
        e.reason(),
        "(#100) bad (code 100/1366046): Photos should be smaller than 4 MB"
    );
    assert!(GraphError::parse(b"not json").is_none());
}
