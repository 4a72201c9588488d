use std::time::Duration;

use connector_meta_graph::map_error;
use pressroom_connector::ConnectorError;

use super::*;

#[test]
fn every_documented_code() {
    use Class::*;
    let table: &[(i64, Option<i64>, Class)] = &[
        (-2, Some(2207003), Transient),
        (-2, Some(2207020), Rejected),
        (-1, Some(2207001), Ambiguous),
        (-1, Some(2207032), Transient),
        (-1, Some(2207053), Transient),
        (4, Some(2207051), Rejected),
        (9, Some(2207042), Throttled),
        (36000, Some(2207004), Rejected),
        (9004, Some(2207052), Rejected),
        (9007, Some(2207027), Transient),
        (100, Some(2207005), Rejected),
        (100, Some(2207009), Rejected),
        (100, Some(2207010), Rejected),
        (100, Some(2207050), Disconnected),
        (100, Some(2207082), Transient),
        (36003, None, Rejected),
        (36001, None, Rejected),
        (190, Some(33), AuthExpired),
        (190, None, AuthExpired),
        (190, Some(463), AuthExpired),
        (190, Some(467), AuthExpired),
        (190, Some(460), Disconnected),
        (190, Some(458), Disconnected),
        (102, None, AuthExpired),
        (-1, None, Ambiguous),
        (-2, None, Ambiguous),
        (1, None, Ambiguous),
        (2, None, Ambiguous),
        (4, None, Throttled),
        (9, None, Throttled),
        (17, None, Throttled),
        (32, None, Throttled),
        (613, None, Throttled),
        (80002, None, Throttled),
        (10, None, Disconnected),
        (200, None, Disconnected),
        (200, Some(1404078), Disconnected),
        (100, None, Rejected),
        (100, Some(33), Rejected),
        (368, None, Rejected),
        (506, None, Rejected),
        (31337, None, Rejected),
    ];
    for (code, sub, want) in table {
        assert_eq!(
            classify_code(*code, *sub, None),
            *want,
            "code {code} sub {sub:?}"
        );
    }
    assert_eq!(classify_code(31337, None, Some(true)), Ambiguous);
}

#[test]
fn maps_to_connector_errors() {
    let body = |code: i64, sub: i64| {
        serde_json::json!({"error":{"message":"m","type":"OAuthException","code":code,"error_subcode":sub,"is_transient":false,
            "error_user_msg":"The media could not be fetched from this URI"}})
        .to_string()
        .into_bytes()
    };
    let w = Duration::from_secs(3600);
    match map_error(
        400,
        &body(9004, 2207052),
        None,
        None,
        w,
        false,
        classify_code,
    ) {
        ConnectorError::Rejected(r) => assert!(
            r.contains("could not be fetched") && r.contains("9004/2207052"),
            "{r}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        map_error(
            400,
            &body(9007, 2207027),
            None,
            None,
            w,
            true,
            classify_code
        ),
        ConnectorError::Transient(_)
    ));
    assert!(matches!(
        map_error(400, &body(80002, 0), None, Some(Duration::from_secs(120)), w, true, classify_code),
        ConnectorError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(120)
    ));
    assert!(matches!(
        map_error(400, &body(190, 463), None, None, w, true, classify_code),
        ConnectorError::AuthExpired
    ));
    assert!(matches!(
        map_error(504, b"gateway", None, None, w, true, classify_code),
        ConnectorError::OutcomeUnknown(_)
    ));
    assert!(matches!(
        map_error(504, b"gateway", None, None, w, false, classify_code),
        ConnectorError::Transient(_)
    ));
}
