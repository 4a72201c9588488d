//! Embeds an rpath to libtorch's `lib/` into this crate's test binaries: the image limits'
//! unit test runs the engine in-process (a dev-dependency, whose build metadata does not reach
//! this script, so the location comes from `.cargo/config.toml`'s LIBTORCH). The API library
//! itself links no libtorch.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(dir) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&dir).join("lib");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
