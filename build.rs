//! Compiles proto/ into Rust with no protoc on the machine: protox parses the
//! files into one descriptor set, which feeds tonic's code generator, gRPC
//! reflection and the HTTP transcoder alike.

use std::{env, fs, io, path::PathBuf};

const PROTO_ROOT: &str = "proto";

fn main() -> io::Result<()> {
    let files = proto_files(PROTO_ROOT.as_ref())?;
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let mut compiler = protox::Compiler::new([PROTO_ROOT]).map_err(io::Error::other)?;
    compiler.include_imports(true).include_source_info(true);
    for file in &files {
        let relative = file.strip_prefix(PROTO_ROOT).expect("file under proto/");
        compiler
            .open_file(relative)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    let descriptor_bytes = compiler.encode_file_descriptor_set();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out_dir.join("catalog_descriptor.bin"), &descriptor_bytes)?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(compiler.file_descriptor_set())
}

/// Every .proto file under `dir`, sorted so the build is reproducible.
fn proto_files(dir: &std::path::Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(proto_files(&path)?);
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}
