//! What a local `--artifact` must be: a package made by `scripts/package`, a gzip-compressed tar holding
//! `bin/airq-gateway`, `bin/airq-worker` and `bin/airq-master`, with its SHA-256 in `<file>.sha256` beside it.
//!
//! Checked before anything else `plan` or `up` does: instances unpack the artifact on boot, so a wrong file
//! (`--artifact README.md`, a tarball of something else, a package changed since it was made) would otherwise be
//! uploaded and fail only on every instance, in a boot log nobody reads.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The binaries every package holds (the roles an instance can run).
pub const BINARIES: [&str; 3] = ["bin/airq-gateway", "bin/airq-worker", "bin/airq-master"];

/// Why a local artifact is not a package.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    #[error("it is not a gzip-compressed tar (.tar.gz); scripts/package makes one")]
    NotGzip,
    #[error("it is not a tar archive inside its gzip ({0}); scripts/package makes one")]
    NotTar(#[source] std::io::Error),
    #[error("it lacks {}: not a package made by scripts/package", .0.join(", "))]
    Missing(Vec<&'static str>),
    #[error("{} is not beside it: scripts/package writes the package's SHA-256 there", .0.display())]
    NoChecksum(PathBuf),
    #[error("{} does not hold a SHA-256 ({text:?})", .path.display())]
    BadChecksum { path: PathBuf, text: String },
    #[error(
        "its SHA-256 is {actual}, not the {expected} in {}: the file changed since it was packaged, or the \
         checksum belongs to another build; run scripts/package again",
        .path.display()
    )]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// The checksum file scripts/package writes beside a package.
pub fn checksum_path(package: &Path) -> PathBuf {
    let mut name = package.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Checks that `path` is a package: a .tar.gz with the three binaries, and a `.sha256` beside it whose
/// checksum is `sha256` (the file's, computed by the caller, who uploads it by that checksum).
pub fn check(path: &Path, sha256: &str) -> Result<(), PackageError> {
    check_contents(path)?;
    let sums = checksum_path(path);
    let text = match std::fs::read_to_string(&sums) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PackageError::NoChecksum(sums))
        }
        Err(e) => return Err(PackageError::Read(e)),
    };
    // `sha256sum` output: the hex digest, two spaces, the file name.
    let expected = text.split_whitespace().next().unwrap_or_default();
    if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PackageError::BadChecksum {
            path: sums,
            text: text.chars().take(80).collect(),
        });
    }
    if !expected.eq_ignore_ascii_case(sha256) {
        return Err(PackageError::ChecksumMismatch {
            path: sums,
            expected: expected.to_ascii_lowercase(),
            actual: sha256.to_string(),
        });
    }
    Ok(())
}

/// Checks the archive itself: gzip, tar, and the three binaries as files. Stops reading once they are found
/// (scripts/package puts `bin/` first).
fn check_contents(path: &Path) -> Result<(), PackageError> {
    let mut file = std::fs::File::open(path).map_err(PackageError::Read)?;
    let mut magic = [0u8; 2];
    match file.read_exact(&mut magic) {
        Ok(()) if magic == [0x1f, 0x8b] => {}
        Ok(()) => return Err(PackageError::NotGzip),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(PackageError::NotGzip)
        }
        Err(e) => return Err(PackageError::Read(e)),
    }
    let file = std::fs::File::open(path).map_err(PackageError::Read)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut missing: Vec<&'static str> = BINARIES.to_vec();
    for entry in archive.entries().map_err(PackageError::NotTar)? {
        let entry = entry.map_err(PackageError::NotTar)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(PackageError::NotTar)?;
        let name = name.to_string_lossy();
        let name = name.trim_start_matches("./");
        missing.retain(|b| *b != name);
        if missing.is_empty() {
            return Ok(());
        }
    }
    Err(PackageError::Missing(missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a .tar.gz of `files` (name, content) at `path`.
    fn tar_gz(path: &Path, files: &[(&str, &[u8])]) {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(path).expect("create"),
            flate2::Compression::fast(),
        );
        let mut builder = tar::Builder::new(gz);
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o755);
            header.set_cksum();
            builder
                .append_data(&mut header, name, *data)
                .expect("append");
        }
        builder.into_inner().expect("tar").finish().expect("gzip");
    }

    fn sha(path: &Path) -> String {
        crate::aws::artifact::checksum(path).expect("checksum").0
    }

    #[test]
    fn a_package_passes_and_anything_else_is_refused_saying_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let package = dir.path().join("airq.tar.gz");
        let bins: Vec<(&str, &[u8])> = BINARIES.iter().map(|b| (*b, &b"\x7fELF"[..])).collect();
        tar_gz(&package, &bins);
        let sum = sha(&package);
        assert!(matches!(
            check(&package, &sum),
            Err(PackageError::NoChecksum(_))
        ));
        std::fs::write(
            checksum_path(&package),
            format!("{sum}  dist/airq.tar.gz\n"),
        )
        .expect("write");
        check(&package, &sum).expect("a package");
        let other = "0".repeat(64);
        let err = check(&package, &other).expect_err("changed");
        assert!(
            err.to_string().contains("changed since it was packaged"),
            "{err}"
        );

        let text = dir.path().join("README.md");
        std::fs::write(&text, "# airq\n").expect("write");
        assert!(matches!(
            check(&text, &sha(&text)),
            Err(PackageError::NotGzip)
        ));

        let partial = dir.path().join("partial.tar.gz");
        tar_gz(&partial, &bins[..1]);
        let err = check(&partial, &sha(&partial)).expect_err("partial");
        assert_eq!(
            err.to_string(),
            "it lacks bin/airq-worker, bin/airq-master: not a package made by scripts/package"
        );

        let gzip_text = dir.path().join("text.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&gzip_text).expect("create"),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut gz, &[b'x'; 2000]).expect("write");
        gz.finish().expect("gzip");
        assert!(matches!(
            check(&gzip_text, &sha(&gzip_text)),
            Err(PackageError::NotTar(_) | PackageError::Missing(_))
        ));
    }
}
