//! Embeds the git revision the binary is built from, for `--version` and
//! `lattice_sidecar_build_info`, as `LATTICE_SIDECAR_GIT_REVISION`:
//!
//! 1. `LATTICE_SIDECAR_GIT_REVISION` from the build's environment, when set (container
//!    builds whose context has no `.git`);
//! 2. else `git rev-parse --short HEAD`, when this package is tracked by the repository git
//!    finds (so a packaged copy unpacked inside some other repository is not mistaken for
//!    it);
//! 3. else the commit recorded by `cargo package` in `.cargo_vcs_info.json`;
//! 4. else `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

const ENV: &str = "LATTICE_SIDECAR_GIT_REVISION";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={ENV}");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let (revision, source) = match std::env::var(ENV).ok().filter(|r| !r.trim().is_empty()) {
        Some(revision) => (revision, "env"),
        None => match git_revision(&dir) {
            Some(revision) => (revision, "git"),
            None => match packaged_revision(&dir) {
                Some(revision) => (revision, "package"),
                None => ("unknown".to_owned(), "none"),
            },
        },
    };
    println!("cargo:rustc-env={ENV}={}", revision.trim());
    // Where it came from, for the unit test that compares it with HEAD.
    println!("cargo:rustc-env={ENV}_SOURCE={source}");
}

/// The short commit of `HEAD`, and a rerun whenever `HEAD` moves.
fn git_revision(dir: &Path) -> Option<String> {
    git(dir, &["ls-files", "--error-unmatch", "Cargo.toml"])?;
    let revision = git(dir, &["rev-parse", "--short", "HEAD"])?;
    // A worktree's HEAD lives in its own git dir, its branches in the common one.
    let git_dir = PathBuf::from(git(dir, &["rev-parse", "--absolute-git-dir"])?);
    let common = git(
        dir,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    )
    .map_or_else(|| git_dir.clone(), PathBuf::from);
    watch(&git_dir.join("HEAD"));
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch(&common.join(branch));
    }
    watch(&common.join("packed-refs"));
    Some(revision)
}

/// `"sha1": "..."` from `.cargo_vcs_info.json`, shortened like `git rev-parse --short`.
fn packaged_revision(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    let info = std::fs::read_to_string(&path).ok()?;
    watch(&path);
    let after = info.split("\"sha1\"").nth(1)?;
    let sha1 = after.split('"').nth(1)?;
    (sha1.len() >= 7 && sha1.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha1[..7].to_owned())
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
