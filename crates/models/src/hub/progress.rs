//! Download progress: a bar (bytes, rate, ETA) when stderr is a terminal, one log line per
//! file otherwise (service logs and CI output stay readable).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a pull shows its progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, else log lines.
    #[default]
    Auto,
    /// One `tracing` line per file.
    Log,
    /// Nothing (tests, library use).
    Quiet,
}

/// The current file, the bar, bytes done of all, rate, time left.
const TEMPLATE: &str =
    "{msg:30!} {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}";

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    log: bool,
}

impl Progress {
    /// `total` bytes to have, `done` of them already on disk.
    pub fn new(mode: ProgressMode, total: u64, done: u64) -> Self {
        let terminal = std::io::stderr().is_terminal();
        match mode {
            ProgressMode::Auto if terminal => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                let style = ProgressStyle::with_template(TEMPLATE)
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                bar.set_style(style);
                bar.set_position(done);
                bar.reset_eta();
                bar.enable_steady_tick(Duration::from_millis(250));
                Progress {
                    bar: Some(bar),
                    log: false,
                }
            }
            ProgressMode::Auto | ProgressMode::Log => Progress {
                bar: None,
                log: true,
            },
            ProgressMode::Quiet => Progress {
                bar: None,
                log: false,
            },
        }
    }

    pub fn file_started(&self, path: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(path.to_string());
        }
    }

    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// Takes back bytes counted for a partial file that had to start over.
    pub fn rewind(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bar.position().saturating_sub(bytes));
        }
    }

    /// `fetched` bytes came over the network in `elapsed` (the rest was resumed).
    pub fn file_done(&self, path: &str, size: u64, fetched: u64, elapsed: Duration) {
        if self.log {
            let secs = elapsed.as_secs_f64().max(0.001);
            tracing::info!(
                file = path,
                size = %HumanBytes(size),
                fetched = %HumanBytes(fetched),
                rate = %format!("{}/s", HumanBytes((fetched as f64 / secs) as u64)),
                "downloaded"
            );
        }
    }

    /// A line for the user, above the bar.
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| tracing::warn!("{text}")),
            None => tracing::warn!("{text}"),
        }
    }

    pub fn finish(&self, started: Instant) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.log || self.bar.is_some() {
            tracing::debug!(secs = started.elapsed().as_secs_f64(), "pull finished");
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_template_is_valid() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }
}
