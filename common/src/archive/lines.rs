//! Splits an archive into lines without ever holding more than one capped line and one read.
//!
//! The csv crate grows its record buffer to whatever one record needs, so a one-line 1 GiB file cost 3 GB and
//! `/dev/zero` as a source grew without bound. Archive lines are ~150 bytes; a line longer than [`MAX_LINE`] is
//! damage, found as soon as that many bytes have arrived without a newline.

use std::io::{self, Read};

use super::{ArchiveDamage, ArchiveDamageKind};

/// The cap on one line, newline excluded: real archive lines are ~150 bytes, so anything this long is damage (or
/// not an archive at all), not data.
pub const MAX_LINE: usize = 64 << 10;

/// The least room a read is given. The buffer is `MAX_LINE + READ_CHUNK` bytes, allocated once: a line that
/// has not ended within the cap is damage before the buffer could need to grow.
pub const READ_CHUNK: usize = 64 << 10;

/// The lines of an input, each with the byte offset where it begins.
pub(super) struct Lines<R> {
    input: R,
    /// Fixed size, zeroed once; the input's bytes are `buf[pos..end]`.
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
    /// End of the bytes read into `buf`.
    end: usize,
    /// How many bytes from `pos` are known to hold no newline, so that a long line is searched once.
    scanned: usize,
    /// Absolute offset of `buf[0]`.
    base: u64,
    eof: bool,
}

impl<R: Read> Lines<R> {
    pub(super) fn new(input: R) -> Self {
        Lines {
            input,
            buf: vec![0; MAX_LINE + READ_CHUNK],
            pos: 0,
            end: 0,
            scanned: 0,
            base: 0,
            eof: false,
        }
    }

    /// The next line without its `\n` (or `\r\n`), and its offset; `None` at the end of the input. A line longer
    /// than the cap, input ending without a newline, or a read error, is damage at the offset of the line it
    /// interrupted: every line before it was returned whole.
    pub(super) fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, ArchiveDamage> {
        loop {
            let pending = &self.buf[self.pos..self.end];
            let offset = self.base + self.pos as u64;
            if let Some(i) = memchr::memchr(b'\n', &pending[self.scanned..]) {
                let start = self.pos;
                let end = start + self.scanned + i;
                // The newline may arrive in the same read as the cap is passed.
                if end - start > MAX_LINE {
                    return Err(ArchiveDamage {
                        offset,
                        kind: ArchiveDamageKind::LineTooLong,
                    });
                }
                self.pos = end + 1;
                self.scanned = 0;
                let line = &self.buf[start..end];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                return Ok(Some((self.base + start as u64, line)));
            }
            self.scanned = pending.len();
            if self.scanned > MAX_LINE {
                return Err(ArchiveDamage {
                    offset,
                    kind: ArchiveDamageKind::LineTooLong,
                });
            }
            if self.eof {
                if self.scanned == 0 {
                    return Ok(None);
                }
                // Every row ends with a newline, so input ending without one was cut: the last "row" may be a
                // number cut short (PM10 12.73 read as 1), and is damage, not data.
                return Err(ArchiveDamage {
                    offset,
                    kind: ArchiveDamageKind::Truncated,
                });
            }
            self.fill().map_err(|e| ArchiveDamage {
                offset,
                kind: ArchiveDamageKind::Io(e.to_string()),
            })?;
        }
    }

    /// Moves the unconsumed bytes to the front and reads once more after them. An error ends the input.
    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            // What remains is part of one line, at most the cap (checked before every fill): a small move, and
            // it leaves at least `READ_CHUNK` bytes of room, so a read of 0 always means the end of the input.
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    self.eof = n == 0;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.eof = true;
                    return Err(e);
                }
            }
        }
    }
}
