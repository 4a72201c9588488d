//! Embeds libtorch's rpath (reported by pressroom-diffusion's build metadata) into this
//! crate's test binaries so they run without `LD_LIBRARY_PATH`, and passes the location on
//! (`DEP_PRESSROOM_GENERATE_LIBTORCH_LIB`) to the crates that link libtorch through this one.

fn main() {
    if let Ok(dir) = std::env::var("DEP_PRESSROOM_LIBTORCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        if std::path::Path::new(&dir).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
        println!("cargo:libtorch_lib={dir}");
    }
}
