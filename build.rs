//! Builds the C halves of the dprintf hooks (`src/preload/dprintf_shim.c`) and of
//! `execl`/`execle`/`execlp` (`src/preload/exec_shim.c`): the variadic and `va_list`
//! functions Rust cannot define on stable. Each is linked into the library as a
//! static archive; `src/preload/dprintf.rs` and `exec.rs` export the names.

fn main() {
    println!("cargo:rerun-if-changed=src/preload/dprintf_shim.c");
    cc::Build::new()
        .file("src/preload/dprintf_shim.c")
        .flag("-fvisibility=hidden")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("uepoll_dprintf_shim");
    println!("cargo:rerun-if-changed=src/preload/exec_shim.c");
    cc::Build::new()
        .file("src/preload/exec_shim.c")
        .flag("-fvisibility=hidden")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("uepoll_exec_shim");
}
