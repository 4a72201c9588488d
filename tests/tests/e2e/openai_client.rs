//! The official `openai` Python client (installed into .venv by scripts/setup.sh) generates
//! images against `pressroom serve` on the tiny model: our endpoint speaks its request and
//! response shapes, with our bearer keys. With `media.public_base_url` set, the default
//! `response_format: "url"` answers a signed link the client downloads with plain urllib.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, ensure};
use pressroom_e2e::{Db, TestApp, free_port, terminate, workspace_root};

const CLIENT: &str = r#"
import base64, json, struct, sys, urllib.request
from openai import OpenAI

base_url, key = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=300)
resp = client.images.generate(
    model="local",
    prompt="a linen tote on a table",
    n=2,
    size="64x64",
    response_format="b64_json",
    extra_body={"seed": 7, "steps": 2},
)
sizes = []
for item in resp.data:
    png = base64.b64decode(item.b64_json)
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    sizes.append(list(struct.unpack(">II", png[16:24])))
# The default response_format is url: a link anyone may fetch until it expires.
linked = client.images.generate(
    model="local",
    prompt="a linen tote on a table",
    size="64x64",
    extra_body={"seed": 7, "steps": 2},
)
link = linked.data[0].url
assert linked.data[0].b64_json is None, "url answers carry no base64"
with urllib.request.urlopen(link, timeout=60) as r:
    content_type = r.headers.get("Content-Type")
    png = r.read()
assert png[:8] == b"\x89PNG\r\n\x1a\n", "the link is not a PNG"
url_image = {
    "link": link.split("?")[0],
    "content_type": content_type,
    "size": list(struct.unpack(">II", png[16:24])),
    "same_as_b64": png == base64.b64decode(resp.data[0].b64_json),
}
try:
    client.images.generate(model="local", prompt="x", size="huge")
    bad = "accepted"
except Exception as e:
    bad = type(e).__name__ + ":" + str(getattr(e, "status_code", ""))
print(json.dumps({"created": resp.created, "sizes": sizes, "url_image": url_image, "bad_size": bad}))
"#;

#[test]
fn the_official_openai_python_client_generates_images() -> anyhow::Result<()> {
    let python = workspace_root().join(".venv/bin/python");
    ensure!(
        python.exists(),
        "{} is missing: run scripts/setup.sh",
        python.display()
    );
    let port = free_port()?;
    let mut app = TestApp::new(
        Db::Sqlite,
        &format!(
            "[api]\nbind = \"127.0.0.1:{port}\"\n\n[media]\npublic_base_url = \"http://127.0.0.1:{port}\"\n"
        ),
    )?;
    let out = app.run(&["keys", "create", "--workspace", "acme", "--role", "editor"])?;
    let key = out
        .lines()
        .last()
        .context("keys create printed nothing")?
        .trim()
        .to_string();
    ensure!(key.starts_with("prk_"), "{out}");
    let mut serve = app.spawn_serve("openai")?;
    let addr = format!("127.0.0.1:{port}");
    let outcome = (|| -> anyhow::Result<serde_json::Value> {
        app.wait_healthy(&addr, Duration::from_secs(120))?;
        let run = Command::new(&python)
            .args(["-c", CLIENT, &format!("http://{addr}/v1"), &key])
            .output()
            .context("running the openai client")?;
        ensure!(
            run.status.success(),
            "the openai client failed:\n{}\n{}",
            String::from_utf8_lossy(&run.stderr),
            app.dump_logs(40)
        );
        let stdout = String::from_utf8_lossy(&run.stdout);
        Ok(serde_json::from_str(stdout.trim())?)
    })();
    let stopped = terminate(&mut serve, Duration::from_secs(30));
    let got = outcome?;
    stopped?;
    ensure!(
        got["created"].as_i64().is_some_and(|c| c > 1_700_000_000),
        "{got}"
    );
    ensure!(
        got["sizes"] == serde_json::json!([[64, 64], [64, 64]]),
        "{got}"
    );
    let linked = &got["url_image"];
    ensure!(
        linked["link"]
            .as_str()
            .is_some_and(|l| l.starts_with(&format!("http://127.0.0.1:{port}/media/assets/"))),
        "{got}"
    );
    ensure!(
        linked["content_type"] == "image/png" && linked["size"] == serde_json::json!([64, 64]),
        "{got}"
    );
    // Same seed, same model: the linked image is the one the b64_json call answered.
    ensure!(linked["same_as_b64"] == true, "{got}");
    ensure!(got["bad_size"] == "BadRequestError:400", "{got}");
    Ok(())
}
