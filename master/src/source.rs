//! Where readings come from: a feed file, a folder of archive CSVs, or an HTTP(S) URL; and which format.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A Sensor.Community JSON snapshot feed (`[ {record}, ... ]`).
    Feed,
    /// `;`-separated daily archive files.
    ArchiveCsv,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Folder(PathBuf),
    Url(String),
}

impl Source {
    pub fn parse(text: &str) -> Source {
        if text.starts_with("http://") || text.starts_with("https://") {
            Source::Url(text.to_string())
        } else if Path::new(text).is_dir() {
            Source::Folder(PathBuf::from(text))
        } else {
            Source::File(PathBuf::from(text))
        }
    }

    /// The format when none is given: URLs and `.json` files are feeds; folders and `.csv` files are archives.
    pub fn default_format(&self) -> Format {
        match self {
            Source::Url(_) => Format::Feed,
            Source::Folder(_) => Format::ArchiveCsv,
            Source::File(path) => match path.extension().and_then(|e| e.to_str()) {
                Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::ArchiveCsv,
                _ => Format::Feed,
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) | Source::Folder(p) => write!(f, "{}", p.display()),
            Source::Url(u) => f.write_str(u),
        }
    }
}

/// The `*.csv` files of a folder, sorted by name (other files, such as a README or a manifest, are not data).
pub fn csv_files(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected() {
        assert_eq!(
            Source::parse("https://x/data.json").default_format(),
            Format::Feed
        );
        assert_eq!(Source::parse("a/b.json").default_format(), Format::Feed);
        assert_eq!(
            Source::parse("a/b.CSV").default_format(),
            Format::ArchiveCsv
        );
        assert_eq!(
            Source::parse(env!("CARGO_MANIFEST_DIR")).default_format(),
            Format::ArchiveCsv
        );
    }
}
