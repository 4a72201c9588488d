//! The wire, driven by hand against `serve_on` over in-memory pipes: readiness, progress,
//! cancellation, and a line that does not parse.

use std::path::Path;

use pressroom_engine::init_tiny_model;
use pressroom_engine::serve::{ServeOptions, Stop, serve_on};
use pressroom_generate::DeviceSetting;
use pressroom_generate::process::protocol::{Command, Event, PROTOCOL_VERSION, WireError, encode};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};

use crate::small;

fn cpu() -> ServeOptions {
    ServeOptions {
        device: DeviceSetting::Cpu,
        ..ServeOptions::default()
    }
}

async fn next_event(events: &mut Lines<BufReader<DuplexStream>>) -> Event {
    let line = tokio::time::timeout(std::time::Duration::from_secs(120), events.next_line())
        .await
        .expect("an event within 2 minutes")
        .expect("read")
        .expect("the engine stopped early");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("event {line:?}: {e}"))
}

#[tokio::test]
async fn a_cancelled_request_stops_and_the_engine_serves_the_next() {
    let model = tempfile::tempdir().expect("tempdir");
    init_tiny_model(model.path(), 5).expect("tiny");
    let (mut commands, engine_in) = tokio::io::duplex(1 << 20);
    let (engine_out, events) = tokio::io::duplex(64 << 20);
    let dir = model.path().to_path_buf();
    let server =
        tokio::spawn(async move { serve_on(Path::new(&dir), cpu(), engine_in, engine_out).await });
    let mut events = BufReader::new(events).lines();
    let Event::Ready {
        identity,
        pid,
        protocol,
        ..
    } = next_event(&mut events).await
    else {
        panic!("the first event is not `ready`");
    };
    assert_eq!(protocol, PROTOCOL_VERSION);
    assert!(identity.ends_with("|device=cpu|dtype=fp32"), "{identity}");
    assert_eq!(pid, std::process::id());

    let mut long = small("a very long job", 1);
    long.steps = 500;
    let send = |c: Command| encode(&c);
    commands
        .write_all(&send(Command::Generate {
            id: 1,
            tenant: "ws-a".into(),
            request: long,
        }))
        .await
        .expect("write");
    assert!(matches!(
        next_event(&mut events).await,
        Event::Progress {
            id: 1,
            total: 500,
            ..
        }
    ));
    commands
        .write_all(&send(Command::Cancel { id: 1 }))
        .await
        .expect("write");
    // A line that is not a command is skipped, not fatal; one that names its id is answered.
    commands.write_all(b"{not json\n").await.expect("write");
    commands
        .write_all(b"{\"op\":\"generate\",\"id\":3,\"tenant\":5}\n")
        .await
        .expect("write");
    commands
        .write_all(&send(Command::Generate {
            id: 2,
            tenant: "ws-b".into(),
            request: small("next", 2),
        }))
        .await
        .expect("write");
    let mut long_steps = 1;
    let mut answered_3 = false;
    loop {
        match next_event(&mut events).await {
            Event::Error {
                id: 3,
                error: WireError::Invalid { message },
            } => {
                assert!(message.contains("could not read"), "{message}");
                answered_3 = true;
            }
            Event::Progress { id: 1, .. } => long_steps += 1,
            Event::Progress { id: 2, .. } => {}
            Event::Done {
                id: 2,
                width,
                height,
                ..
            } => {
                assert_eq!((width, height), (64, 64));
                break;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert!(
        long_steps < 50,
        "the cancelled request ran on: {long_steps} steps"
    );
    assert!(answered_3, "the malformed request was not answered");
    // End of input stops the engine cleanly.
    drop(commands);
    let stop = server.await.expect("join").expect("serve ends cleanly");
    assert_eq!(stop, Stop::InputClosed);
}

#[tokio::test]
async fn a_model_that_cannot_load_is_reported_before_anything_else() {
    let empty = tempfile::tempdir().expect("tempdir");
    let (_commands, engine_in) = tokio::io::duplex(1024);
    let (engine_out, events) = tokio::io::duplex(1 << 20);
    let result = serve_on(empty.path(), cpu(), engine_in, engine_out).await;
    assert!(result.is_err());
    let mut events = BufReader::new(events).lines();
    let Event::Failed { message } = next_event(&mut events).await else {
        panic!("the first event is not `failed`");
    };
    assert!(
        message.contains(&empty.path().display().to_string()),
        "the message names the folder: {message}"
    );
}
