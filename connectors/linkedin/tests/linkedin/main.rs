//! The LinkedIn connector's integration tests, one binary: publishing against the fake, and
//! its fidelity to LinkedIn's documented behaviour (processing images, throttles, listing lag),
//! and post metrics fetch-back (insights).

mod fidelity;
mod insights;
mod publishing;
