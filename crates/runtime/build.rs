//! Embeds an rpath to libtorch's `lib/` (reported by pressroom-diffusion's build script) so
//! the binary runs without LD_LIBRARY_PATH.

fn main() {
    if let Ok(dir) = std::env::var("DEP_PRESSROOM_LIBTORCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        if std::path::Path::new(&dir).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
