//! Embeds an rpath to libtorch's `lib/` (passed on by pressroom-generate's build script,
//! which links it) so the binaries run without LD_LIBRARY_PATH.

fn main() {
    if let Ok(dir) = std::env::var("DEP_PRESSROOM_GENERATE_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        if std::path::Path::new(&dir).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
