//! The wire between the daemon and its engine process: one JSON object per line, commands on
//! the engine's stdin, events on its stdout (its logs go to stderr). Images travel as base64
//! PNG inside the `done` event.
//!
//! The engine answers `ready` once its model is loaded (or `failed`, then exits), then any
//! number of `generate` commands concurrently (it batches compatible ones itself), each
//! answered by `progress` events and one `done` or `error`. `cancel` stops a request within a
//! denoising step and is not answered. End of input stops the engine.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::GenerateError;
use crate::request::GenerationRequest;

/// Bumped when a command or event changes shape: the daemon refuses an engine that speaks
/// another version (a `pressroom-engine` from another build).
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest line either side accepts: a 1536² PNG in base64 is well under it.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Daemon to engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Generate one image for `tenant` (a workspace id: tenants are served in turn).
    Generate {
        id: u64,
        tenant: String,
        request: GenerationRequest,
    },
    /// The caller went away: stop request `id`.
    Cancel { id: u64 },
}

/// Engine to daemon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The model is loaded. `identity` is the model identity with device and precision (the
    /// generation cache's key part); `device` says where it runs, for logs.
    Ready {
        /// [`PROTOCOL_VERSION`] of the engine (0 from an engine that predates it).
        #[serde(default)]
        protocol: u32,
        identity: String,
        device: String,
        pid: u32,
    },
    /// The engine could not start (no such model, no CUDA device, ...); it exits next.
    Failed { message: String },
    /// Request `id` finished denoising step `step` of `total`.
    Progress { id: u64, step: u32, total: u32 },
    /// Request `id`'s image.
    Done {
        id: u64,
        width: u32,
        height: u32,
        png_base64: String,
    },
    /// Request `id` failed.
    Error { id: u64, error: WireError },
}

impl Event {
    pub fn done(id: u64, width: u32, height: u32, png: &[u8]) -> Self {
        Event::Done {
            id,
            width,
            height,
            png_base64: base64::engine::general_purpose::STANDARD.encode(png),
        }
    }
}

/// A [`GenerateError`] as it crosses the process boundary, keeping what the job runner
/// decides on (retry, defer, fail for good).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WireError {
    /// The request is invalid for this model (e.g. more DDIM steps than its schedule has).
    Invalid { message: String },
    /// The model's safety checker flagged the image; it was not kept.
    Unsafe { message: String },
    /// The engine's queue is full: retry after the hint.
    Busy { retry_after_ms: u64 },
    /// Cancelled inside the engine (it is stopping): worth retrying.
    Stopped,
    /// The device ran out of memory for this request: worth retrying (the batch beside it
    /// may have been what filled it).
    OutOfMemory { message: String },
    /// Any other engine failure (a CUDA error, a bad tensor), with its message.
    Engine { message: String },
}

impl From<&GenerateError> for WireError {
    fn from(e: &GenerateError) -> Self {
        match e {
            GenerateError::InvalidRequest(m) => WireError::Invalid { message: m.clone() },
            GenerateError::Unsafe(m) => WireError::Unsafe { message: m.clone() },
            GenerateError::RateLimited { retry_after, .. } => WireError::Busy {
                retry_after_ms: retry_after
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                    .unwrap_or(10_000),
            },
            GenerateError::EngineGone | GenerateError::EngineCrashed(_) => WireError::Stopped,
            // Its message already says "diffusion engine: …" on the daemon's side.
            GenerateError::Engine(message) => WireError::Engine {
                message: message.clone(),
            },
            GenerateError::Transient { message, .. } => WireError::OutOfMemory {
                message: message.clone(),
            },
            other => WireError::Engine {
                message: other.to_string(),
            },
        }
    }
}

impl From<WireError> for GenerateError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::Invalid { message } => GenerateError::InvalidRequest(message),
            WireError::Unsafe { message } => GenerateError::Unsafe(message),
            WireError::Busy { retry_after_ms } => GenerateError::RateLimited {
                backend: "local",
                retry_after: Some(Duration::from_millis(retry_after_ms)),
            },
            WireError::Stopped => GenerateError::EngineGone,
            WireError::OutOfMemory { message } => GenerateError::Transient {
                backend: "local",
                message,
            },
            WireError::Engine { message } => GenerateError::Engine(message),
        }
    }
}

/// One line (without its newline) of a command or event.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let mut line = serde_json::to_vec(message).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Decodes a `done` event's image.
pub fn decode_png(png_base64: &str) -> Result<Vec<u8>, GenerateError> {
    base64::engine::general_purpose::STANDARD
        .decode(png_base64)
        .map_err(|e| GenerateError::Image(format!("engine sent an image that is not base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::GenerationRequest;

    #[test]
    fn commands_and_events_round_trip_as_one_line_each() {
        let cmd = Command::Generate {
            id: 7,
            tenant: "ws".into(),
            request: GenerationRequest::new("a cat\non two lines", 3),
        };
        let line = encode(&cmd);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let back: Command = serde_json::from_slice(&line).expect("command parses");
        assert_eq!(back, cmd);
        let done = Event::done(7, 8, 8, b"\x89PNG");
        let back: Event = serde_json::from_slice(&encode(&done)).expect("event parses");
        let Event::Done { png_base64, .. } = back else {
            panic!("not a done event: {back:?}");
        };
        assert_eq!(decode_png(&png_base64).expect("base64"), b"\x89PNG");
    }

    #[test]
    fn errors_keep_what_the_job_runner_decides_on() {
        let busy = GenerateError::RateLimited {
            backend: "local",
            retry_after: Some(Duration::from_secs(3)),
        };
        let back = GenerateError::from(WireError::from(&busy));
        assert!(matches!(
            back,
            GenerateError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        let unsafe_ = GenerateError::from(WireError::from(&GenerateError::Unsafe("nsfw".into())));
        assert!(matches!(unsafe_, GenerateError::Unsafe(m) if m == "nsfw"));
        let invalid = GenerateError::from(WireError::from(&GenerateError::InvalidRequest(
            "too many steps".into(),
        )));
        assert!(!invalid.is_retryable());
        assert!(GenerateError::from(WireError::Stopped).is_retryable());
        assert!(
            !GenerateError::from(WireError::Engine {
                message: "x".into()
            })
            .is_retryable()
        );
        // The message crosses unchanged: said once, not "diffusion engine: diffusion engine: …".
        let engine = GenerateError::Engine("unsupported model".into());
        let back = GenerateError::from(WireError::from(&engine));
        assert_eq!(back.to_string(), "diffusion engine: unsupported model");
        let oom = GenerateError::Transient {
            backend: "local",
            message: "CUDA out of memory".into(),
        };
        assert!(GenerateError::from(WireError::from(&oom)).is_retryable());
    }
}
