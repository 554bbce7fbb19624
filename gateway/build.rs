//! Embeds the dashboard's build output (`web/dist/`, or `$GATEWAY_WEB_DIST`) into the binary.
//!
//! Writes `$OUT_DIR/embedded_files.rs`: a table of `EmbeddedFile`s sorted by path, whose bytes come
//! from `include_bytes!`. Text files are pre-compressed here (gzip and brotli, at maximum quality)
//! so the server never compresses at request time; a variant is kept only when it is smaller.
//! Every variant is written to `$OUT_DIR` from one read of the file, so they agree even when the
//! dashboard is rebuilt while this runs. Without a `dist/` the table is empty and the gateway
//! answers 503 for pages. A relative `GATEWAY_WEB_DIST` is taken from this crate's directory.

use std::env;
use std::error::Error;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// One file found under `dist/`, named by its path relative to `dist/` with `/` separators.
struct DistFile {
    path: String,
    source: PathBuf,
}

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-env-changed=GATEWAY_WEB_DIST");
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let dist = match env::var_os("GATEWAY_WEB_DIST") {
        Some(dir) => manifest_dir.join(dir),
        None => manifest_dir.join("web").join("dist"),
    };
    // For a directory Cargo compares the newest mtime of everything inside it. While `dist/` is
    // missing this makes the script rerun on every build, so it appears as soon as it is built.
    println!("cargo:rerun-if-changed={}", dist.display());

    let mut files = Vec::new();
    if dist.is_dir() {
        collect_files(&dist, &dist, &mut files)?;
    } else {
        println!(
            "cargo:warning=dashboard not built: {} does not exist, so no pages are embedded and \
             the gateway answers 503 for them (build gateway/web first)",
            dist.display()
        );
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let embedded_dir = out_dir.join("embedded");
    if embedded_dir.exists() {
        fs::remove_dir_all(&embedded_dir)?;
    }
    fs::create_dir_all(&embedded_dir)?;
    let mut table = String::from("static EMBEDDED_FILES: &[EmbeddedFile] = &[\n");
    for (index, file) in files.iter().enumerate() {
        let bytes = fs::read(&file.source)?;
        let identity = embedded_dir.join(index.to_string());
        fs::write(&identity, &bytes)?;
        let (content_type, compressible) = content_type(&file.path);
        let (gzip, brotli) = if compressible {
            let gzip = gzip(&bytes)?;
            let brotli = brotli(&bytes)?;
            (
                write_if_smaller(&embedded_dir.join(format!("{index}.gz")), &gzip, &bytes)?,
                write_if_smaller(&embedded_dir.join(format!("{index}.br")), &brotli, &bytes)?,
            )
        } else {
            (None, None)
        };
        writeln!(
            table,
            "    EmbeddedFile {{ path: {:?}, content_type: {:?}, identity: include_bytes!({:?}), \
             gzip: {}, brotli: {} }},",
            file.path,
            content_type,
            path_str(&identity)?,
            include_option(gzip.as_deref())?,
            include_option(brotli.as_deref())?,
        )?;
    }
    table.push_str("];\n");
    fs::write(out_dir.join("embedded_files.rs"), table)?;
    Ok(())
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<DistFile>) -> Result<(), Box<dyn Error>> {
    for entry in fs::read_dir(dir)? {
        let source = entry?.path();
        let name = source.file_name().and_then(|n| n.to_str()).unwrap_or(".");
        if name.starts_with('.') {
            continue;
        }
        if source.is_dir() {
            collect_files(root, &source, files)?;
        } else {
            let relative = source.strip_prefix(root)?;
            let parts = relative
                .components()
                .map(|c| {
                    c.as_os_str()
                        .to_str()
                        .ok_or("dist/ holds a file name that is not UTF-8")
                })
                .collect::<Result<Vec<_>, _>>()?;
            files.push(DistFile {
                path: parts.join("/"),
                source,
            });
        }
    }
    Ok(())
}

/// The Content-Type for a file name, and whether compressing it pays off.
fn content_type(path: &str) -> (&'static str, bool) {
    let extension = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("html") => ("text/html; charset=utf-8", true),
        Some("js" | "mjs") => ("text/javascript; charset=utf-8", true),
        Some("css") => ("text/css; charset=utf-8", true),
        Some("json" | "map") => ("application/json", true),
        Some("webmanifest") => ("application/manifest+json", true),
        Some("txt") => ("text/plain; charset=utf-8", true),
        Some("svg") => ("image/svg+xml", true),
        Some("wasm") => ("application/wasm", true),
        Some("ico") => ("image/x-icon", true),
        Some("png") => ("image/png", false),
        Some("jpg" | "jpeg") => ("image/jpeg", false),
        Some("gif") => ("image/gif", false),
        Some("webp") => ("image/webp", false),
        Some("woff2") => ("font/woff2", false),
        Some("woff") => ("font/woff", false),
        Some("ttf") => ("font/ttf", true),
        _ => ("application/octet-stream", false),
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn brotli(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out)
}

fn write_if_smaller(
    target: &Path,
    compressed: &[u8],
    original: &[u8],
) -> std::io::Result<Option<PathBuf>> {
    if compressed.len() >= original.len() {
        return Ok(None);
    }
    fs::write(target, compressed)?;
    Ok(Some(target.to_path_buf()))
}

fn include_option(path: Option<&Path>) -> Result<String, Box<dyn Error>> {
    Ok(match path {
        Some(path) => format!("Some(include_bytes!({:?}))", path_str(path)?),
        None => "None".to_owned(),
    })
}

fn path_str(path: &Path) -> Result<&str, Box<dyn Error>> {
    Ok(path
        .to_str()
        .ok_or("a path under dist/ or OUT_DIR is not UTF-8")?)
}
