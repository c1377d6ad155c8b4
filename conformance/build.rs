//! Generates the gRPC clients and a descriptor set from the repository's
//! proto/ (the API contract) with protox: the harness knows the server
//! only through it.

use std::{fs, io, path::Path, path::PathBuf};

const PROTO_ROOT: &str = "../proto";

fn main() -> io::Result<()> {
    let files = proto_files(PROTO_ROOT.as_ref())?;
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let mut compiler = protox::Compiler::new([PROTO_ROOT]).map_err(io::Error::other)?;
    compiler.include_imports(true);
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file.strip_prefix(PROTO_ROOT).expect("file under proto/");
        compiler
            .open_file(relative)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    // The descriptor set too, so the harness can write responses in their
    // proto3 JSON form (CAP-01 validates capabilities as JSON).
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(
        out_dir.join("catalog_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .compile_fds(compiler.file_descriptor_set())
}

/// The API's .proto files (google/ imports are pulled in as dependencies).
fn proto_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(proto_files(&path)?);
        } else if path.extension().is_some_and(|e| e == "proto")
            && path.starts_with(Path::new(PROTO_ROOT).join("catalog"))
        {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}
