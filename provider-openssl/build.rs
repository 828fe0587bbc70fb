//! Generates the raw OpenSSL provider ABI (bindgen) and the linker version script that
//! leaves `OSSL_provider_init` as the only exported symbol.

use std::env;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=build.rs");

    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .allowlist_type("OSSL_.*")
        .allowlist_var("OSSL_.*")
        .allowlist_var("EVP_.*_TLS.*")
        .allowlist_function("OSSL_PARAM_.*")
        .allowlist_function("ASYNC_get_current_job")
        .allowlist_function("ASYNC_pause_job")
        .allowlist_function("ASYNC_get_wait_ctx")
        .allowlist_function("ASYNC_WAIT_CTX_.*")
        .allowlist_function("RAND_bytes")
        .allowlist_function("OSSL_LIB_CTX_new")
        .allowlist_function("OSSL_PROVIDER_load")
        .allowlist_function("OSSL_PROVIDER_get0_provider_ctx")
        .allowlist_function("OSSL_PROVIDER_query_operation")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false);
    // openssl-sys exports its include directory to direct dependents.
    if let Ok(inc) = env::var("DEP_OPENSSL_INCLUDE") {
        builder = builder.clang_arg(format!("-I{inc}"));
    }
    let bindings = builder
        .generate()
        .expect("bindgen over the OpenSSL provider headers");
    bindings
        .write_to_file(out.join("ossl_bindings.rs"))
        .expect("write bindings");

    // Export only the provider entry point.
    let map = out.join("exports.map");
    std::fs::write(&map, "{\n  global: OSSL_provider_init;\n  local: *;\n};\n")
        .expect("write version script");
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
        map.display()
    );
}
