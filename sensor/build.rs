//! Builds the kernel programs (`sensor-ebpf`, for bpfel on nightly) and embeds them.
use anyhow::{Context as _, anyhow};
use aya_build::{Package, Toolchain};

fn main() -> anyhow::Result<()> {
    // The fuzz targets (`tests/fuzz/`, built by cargo-fuzz with `--cfg fuzzing`) never load
    // kernel programs, and the sanitizer flags they are built with would reach the eBPF build:
    // embed an empty object instead (the loader refuses it, `LoadError::NoObject`).
    println!("cargo:rerun-if-env-changed=CARGO_CFG_FUZZING");
    if std::env::var_os("CARGO_CFG_FUZZING").is_some() {
        let out = std::env::var_os("OUT_DIR").context("OUT_DIR is not set")?;
        std::fs::write(std::path::Path::new(&out).join("sensor"), [])
            .context("writing the empty eBPF object")?;
        return Ok(());
    }
    let meta = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = meta
        .packages
        .into_iter()
        .find(|p| p.name.as_str() == "sensor-ebpf")
        .ok_or_else(|| anyhow!("sensor-ebpf package not found"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?;
    // The kernel programs also compile `common/` (the wire types): rebuild them when it changes.
    println!(
        "cargo:rerun-if-changed={}",
        meta.workspace_root.join("common").as_str()
    );
    aya_build::build_ebpf(
        [Package {
            name: ebpf.name.as_str(),
            root_dir: root_dir.as_str(),
            ..Default::default()
        }],
        Toolchain::default(),
    )
}
