use std::cell::RefCell;

use serde_json::json;

use super::*;

fn unknown_metric() -> Refusal {
    Refusal {
        graph: Some(GraphError {
            message: "(#100) The value must be a valid insights metric".into(),
            code: 100,
            ..GraphError::default()
        }),
        error: ConnectorError::Rejected("(#100)".into()),
    }
}

fn answer(names: &str) -> Value {
    let data: Vec<Value> = names
        .split(',')
        .map(|n| json!({"name": n, "period": "lifetime", "values": [{"value": n.len()}]}))
        .collect();
    json!({ "data": data })
}

#[test]
fn reads_numbers_objects_and_parts() {
    let v = json!({"data": [
        {"name": "post_media_view", "values": [{"value": 340}]},
        {"name": "post_reactions_by_type_total", "values": [{"value": {"like": 9, "love": 2}}]},
        {"name": "post_activity_by_action_type", "values": [{"value": {"share": 3}}]},
        {"name": "float", "values": [{"value": 2.6}]},
        {"name": "no_values", "values": []},
    ]});
    let i = Insights {
        values: values(&v),
        ..Insights::default()
    };
    assert_eq!(i.count("post_media_view"), Some(340));
    assert_eq!(i.count("post_reactions_by_type_total"), Some(11));
    assert_eq!(i.part("post_activity_by_action_type", "share"), Some(3));
    assert_eq!(
        i.part("post_activity_by_action_type", "comment"),
        Some(0),
        "a part Meta leaves out of an answered object is zero"
    );
    assert_eq!(i.count("float"), Some(3));
    assert_eq!(i.count("no_values"), None, "no value is not zero");
    assert_eq!(i.count("absent"), None);
    assert_eq!(i.part("post_media_view", "x"), None);
}

#[test]
fn tells_refusals_apart() {
    assert!(unknown_metric().is_unknown_metric());
    assert!(!unknown_metric().is_gone());
    let gone = Refusal {
        graph: Some(GraphError {
            message: "Unsupported get request. Object with ID '1_2' does not exist".into(),
            code: 100,
            error_subcode: Some(33),
            ..GraphError::default()
        }),
        error: ConnectorError::Rejected(String::new()),
    };
    assert!(gone.is_gone());
    assert!(!gone.is_unknown_metric());
    let photo = Refusal {
        graph: Some(GraphError {
            message: "(#100) Tried accessing nonexisting field (insights) on node type (Photo)"
                .into(),
            code: 100,
            ..GraphError::default()
        }),
        error: ConnectorError::Rejected(String::new()),
    };
    assert!(!photo.is_unknown_metric() && !photo.is_gone());
    assert!(!Refusal::from(ConnectorError::AuthExpired).is_unknown_metric());
}

#[tokio::test]
async fn one_unknown_name_is_dropped_and_the_others_still_read() {
    let calls = RefCell::new(Vec::new());
    let mut refused = BTreeSet::new();
    let got = fetch(
        &["views", "impressions", "reach"],
        &mut refused,
        |m: String| {
            calls.borrow_mut().push(m.clone());
            async move {
                if m.split(',').any(|n| n == "impressions") {
                    Err(unknown_metric())
                } else {
                    Ok(answer(&m))
                }
            }
        },
    )
    .await
    .expect("fetch");
    assert_eq!(got.unknown, ["impressions"]);
    assert_eq!(got.count("views"), Some(5));
    assert_eq!(got.count("reach"), Some(5));
    assert_eq!(got.raw["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        *calls.borrow(),
        ["views,impressions,reach", "views", "impressions", "reach"]
    );
    // The next post does not ask for the refused name again.
    calls.borrow_mut().clear();
    let got = fetch(
        &["views", "impressions", "reach"],
        &mut refused,
        |m: String| {
            calls.borrow_mut().push(m.clone());
            async move { Ok(answer(&m)) }
        },
    )
    .await
    .expect("fetch");
    assert!(got.unknown.is_empty() && !got.all_refused());
    assert_eq!(*calls.borrow(), ["views,reach"]);
}

#[tokio::test]
async fn other_refusals_are_the_callers() {
    let mut refused = BTreeSet::new();
    let err = fetch(&["views"], &mut refused, |_| async {
        Err(Refusal::from(ConnectorError::AuthExpired))
    })
    .await
    .expect_err("refused");
    assert!(matches!(err.error, ConnectorError::AuthExpired));
    let got = fetch(&["views"], &mut refused, |_| async {
        Err(unknown_metric())
    })
    .await
    .expect("a lone unknown name is no error");
    assert_eq!(got.unknown, ["views"]);
    assert!(got.is_empty() && got.all_refused() && got.asked == 1);
    let got = fetch(&["views"], &mut refused, |_| async { Ok(answer("x")) })
        .await
        .expect("nothing left to ask");
    assert!(got.all_refused() && got.asked == 0);
}
