//! Records the target triple, which pack archives name and check.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=ART_TARGET={target}");
}
