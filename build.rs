//! Builds the C half of the dprintf hooks (`src/preload/dprintf_shim.c`): the
//! variadic and `va_list` functions Rust cannot define on stable. It is linked into
//! the library as a static archive; `src/preload/dprintf.rs` exports the names.

fn main() {
    println!("cargo:rerun-if-changed=src/preload/dprintf_shim.c");
    cc::Build::new()
        .file("src/preload/dprintf_shim.c")
        .flag("-fvisibility=hidden")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("uepoll_dprintf_shim");
}
