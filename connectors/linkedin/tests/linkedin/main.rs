//! The LinkedIn connector's integration tests, one binary: publishing against the fake, and
//! its fidelity to LinkedIn's documented behaviour (processing images, throttles, listing lag).

mod fidelity;
mod publishing;
