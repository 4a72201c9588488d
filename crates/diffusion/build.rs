//! Embeds an rpath to libtorch's `lib/` directory so this crate's tests, benches and
//! examples run without `LD_LIBRARY_PATH`, and re-exports that directory as link metadata
//! (`DEP_PRESSROOM_LIBTORCH_LIBTORCH_LIB`) for crates that depend on us directly — rpaths
//! emitted by a library's build script do not reach its dependents' binaries.

fn main() {
    // torch-sys (links = "tch") publishes the directory it linked against.
    let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=torch-sys did not report its libtorch lib dir; no rpath embedded");
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    // Keep libtorch_cuda in the binary even though no symbol of it is referenced directly;
    // without it CUDA is invisible at run time. Harmless on CPU-only machines: the CUDA
    // libraries load lazily and `Cuda::is_available()` just answers false.
    if std::path::Path::new(&dir).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
    println!("cargo:libtorch_lib={dir}");
}
