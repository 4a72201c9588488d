//! Embeds an rpath to libtorch's `lib/` (reported by pressroom-diffusion's build metadata)
//! so `pressroom-engine` and this crate's tests run without LD_LIBRARY_PATH. Only this binary
//! links libtorch: the daemon starts it as a separate process.

fn main() {
    if let Ok(dir) = std::env::var("DEP_PRESSROOM_LIBTORCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        if std::path::Path::new(&dir).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
