//! CMS payloads → run variables (RELIABILITY.md B.9). Each adapter reads the real shape its
//! CMS sends and picks the fields a caption or prompt template wants; anything else in the
//! payload is ignored. Values become strings, capped, so a huge post body cannot bloat a run.

use serde_json::{Map, Value};

/// Longest value kept per variable.
const MAX_VALUE: usize = 2000;

/// Which payload shape a hook expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// Ghost `post.published` (`{"post": {"current": {…}, "previous": {…}}}`).
    Ghost,
    /// WordPress with the WP Webhooks plugin's post publish trigger (`post`, `post_permalink`, …).
    WordPress,
    /// Strapi `entry.publish` (`{"event": …, "model": …, "entry": {…}}`).
    Strapi,
    /// Any JSON, with a mapping of variable → JSON pointer.
    Generic,
}

/// One of the adapter names, in the OpenAPI document.
impl utoipa::PartialSchema for Adapter {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some(Adapter::ALL.map(Adapter::as_str)))
            .into()
    }
}

impl utoipa::ToSchema for Adapter {}

impl Adapter {
    pub const ALL: [Adapter; 4] = [Self::Ghost, Self::WordPress, Self::Strapi, Self::Generic];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ghost => "ghost",
            Self::WordPress => "wordpress",
            Self::Strapi => "strapi",
            Self::Generic => "generic",
        }
    }
}

/// What a payload means for the campaign.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Fire a run with these variables.
    Fire(Map<String, Value>),
    /// A valid delivery that is not a publish event (a draft saved, an unpublish): answered
    /// 2xx so the CMS does not retry, and nothing fires.
    Ignore(String),
}

/// Maps a payload. `Err` is a payload that does not have the adapter's shape (400).
pub fn map(
    adapter: Adapter,
    payload: &Value,
    mapping: &Map<String, Value>,
) -> Result<Outcome, String> {
    match adapter {
        Adapter::Ghost => ghost(payload),
        Adapter::WordPress => wordpress(payload),
        Adapter::Strapi => strapi(payload),
        Adapter::Generic => generic(payload, mapping),
    }
}

fn text(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    let mut end = s.len().min(MAX_VALUE);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Some(s[..end].to_string())
}

fn put(vars: &mut Map<String, Value>, name: &str, v: Option<&Value>) {
    // `run` is reserved by the template context.
    if pressroom_core::campaign::RESERVED_VARIABLES.contains(&name) {
        return;
    }
    if let Some(s) = v.and_then(text).filter(|s| !s.is_empty()) {
        vars.insert(name.to_string(), Value::String(s));
    }
}

fn ghost(payload: &Value) -> Result<Outcome, String> {
    let post = payload
        .pointer("/post/current")
        .filter(|p| p.is_object())
        .ok_or("not a Ghost post webhook: no post.current")?;
    if let Some(status) = post.get("status").and_then(Value::as_str)
        && status != "published"
    {
        return Ok(Outcome::Ignore(format!("post status is {status:?}")));
    }
    let mut vars = Map::new();
    put(&mut vars, "title", post.get("title"));
    put(&mut vars, "url", post.get("url"));
    put(&mut vars, "slug", post.get("slug"));
    put(
        &mut vars,
        "excerpt",
        post.get("custom_excerpt")
            .filter(|v| !v.is_null())
            .or_else(|| post.get("excerpt")),
    );
    put(&mut vars, "feature_image", post.get("feature_image"));
    put(&mut vars, "author", post.pointer("/primary_author/name"));
    put(&mut vars, "tag", post.pointer("/primary_tag/name"));
    if let Some(tags) = post.get("tags").and_then(Value::as_array) {
        let names: Vec<&str> = tags
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .collect();
        put(&mut vars, "tags", Some(&Value::String(names.join(", "))));
    }
    Ok(Outcome::Fire(vars))
}

fn wordpress(payload: &Value) -> Result<Outcome, String> {
    let post = payload
        .get("post")
        .filter(|p| p.is_object())
        .ok_or("not a WP Webhooks post payload: no post object")?;
    if let Some(status) = post.get("post_status").and_then(Value::as_str)
        && status != "publish"
    {
        return Ok(Outcome::Ignore(format!("post_status is {status:?}")));
    }
    let mut vars = Map::new();
    put(&mut vars, "title", post.get("post_title"));
    put(
        &mut vars,
        "url",
        payload.get("post_permalink").or_else(|| post.get("guid")),
    );
    put(&mut vars, "slug", post.get("post_name"));
    put(&mut vars, "excerpt", post.get("post_excerpt"));
    put(&mut vars, "feature_image", payload.get("post_thumbnail"));
    put(&mut vars, "post_type", post.get("post_type"));
    put(
        &mut vars,
        "post_id",
        payload.get("post_id").or_else(|| post.get("ID")),
    );
    Ok(Outcome::Fire(vars))
}

fn strapi(payload: &Value) -> Result<Outcome, String> {
    let event = payload
        .get("event")
        .and_then(Value::as_str)
        .ok_or("not a Strapi webhook: no event")?;
    if event != "entry.publish" {
        return Ok(Outcome::Ignore(format!("event is {event:?}")));
    }
    let entry = payload
        .get("entry")
        .and_then(Value::as_object)
        .ok_or("not a Strapi entry webhook: no entry object")?;
    let mut vars = Map::new();
    put(&mut vars, "model", payload.get("model"));
    // An entry's fields are whatever its content type defines: take the scalar ones.
    for (k, v) in entry {
        let name = if k == "id" { "entry_id" } else { k.as_str() };
        put(&mut vars, name, Some(v));
    }
    Ok(Outcome::Fire(vars))
}

fn generic(payload: &Value, mapping: &Map<String, Value>) -> Result<Outcome, String> {
    let mut vars = Map::new();
    for (name, pointer) in mapping {
        let pointer = pointer
            .as_str()
            .ok_or_else(|| format!("mapping for {name:?} is not a JSON pointer string"))?;
        put(&mut vars, name, payload.pointer(pointer));
    }
    Ok(Outcome::Fire(vars))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strapi_non_publish_is_ignored_and_publish_maps_scalars() {
        let m = Map::new();
        let p = json!({"event": "entry.update", "model": "article", "entry": {"id": 1}});
        assert!(matches!(
            map(Adapter::Strapi, &p, &m),
            Ok(Outcome::Ignore(_))
        ));
        let p = json!({"event": "entry.publish", "model": "article",
            "entry": {"id": 7, "title": "Hi", "cover": {"url": "/x.png"}, "run": "no"}});
        let Ok(Outcome::Fire(v)) = map(Adapter::Strapi, &p, &m) else {
            panic!("fires")
        };
        assert_eq!(v.get("title"), Some(&json!("Hi")));
        assert_eq!(v.get("entry_id"), Some(&json!("7")));
        assert!(!v.contains_key("cover") && !v.contains_key("run"));
    }

    #[test]
    fn generic_follows_pointers_and_long_values_are_capped() {
        let mut m = Map::new();
        m.insert("headline".into(), json!("/data/title"));
        m.insert("missing".into(), json!("/nope"));
        let long = "é".repeat(3000);
        let p = json!({"data": {"title": long}});
        let Ok(Outcome::Fire(v)) = map(Adapter::Generic, &p, &m) else {
            panic!("fires")
        };
        assert!(v["headline"].as_str().is_some_and(|s| s.len() <= MAX_VALUE));
        assert!(!v.contains_key("missing"));
    }
}
