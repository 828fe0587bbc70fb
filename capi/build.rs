//! The shared library's SONAME: programs linked with `-lwarpdrive` record
//! `libwarpdrive.so.0`, the C API's ABI version, so an incompatible
//! `libwarpdrive.so.1` can be installed beside it (scripts/install.sh
//! installs `libwarpdrive.so.VERSION` and the two symlinks).
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwarpdrive.so.0");
}
