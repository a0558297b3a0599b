//! Turning raw file bytes into records: encoding-aware line splitting, `max_log_size`, and
//! multiline aggregation. Pure code: the reader feeds bytes and gets records with the file
//! offset where each ends, which is what checkpoints store.

use regex::Regex;

/// `encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// UTF-8; invalid bytes become U+FFFD, never dropped.
    Utf8,
    /// UTF-16 little-endian.
    Utf16Le,
    /// UTF-16 big-endian.
    Utf16Be,
}

impl Encoding {
    /// Parses the Collector's names (case-insensitive).
    pub(crate) fn parse(s: &str) -> Result<Encoding, String> {
        match s.to_ascii_lowercase().as_str() {
            "" | "utf-8" | "utf8" | "ascii" | "us-ascii" => Ok(Encoding::Utf8),
            "utf-16le" | "utf16le" | "utf-16" => Ok(Encoding::Utf16Le),
            "utf-16be" | "utf16be" => Ok(Encoding::Utf16Be),
            other => Err(format!(
                "unsupported encoding {other:?}; supported: utf-8, utf-16le, utf-16be"
            )),
        }
    }

    fn unit(self) -> usize {
        match self {
            Encoding::Utf8 => 1,
            Encoding::Utf16Le | Encoding::Utf16Be => 2,
        }
    }

    fn newline(self) -> &'static [u8] {
        match self {
            Encoding::Utf8 => b"\n",
            Encoding::Utf16Le => b"\n\0",
            Encoding::Utf16Be => b"\0\n",
        }
    }

    /// Decodes, replacing invalid sequences.
    pub(crate) fn decode(self, bytes: &[u8]) -> String {
        match self {
            // Valid UTF-8 is by far the common case, and checking it whole is much cheaper
            // than the chunk-by-chunk walk of `from_utf8_lossy`.
            Encoding::Utf8 => match std::str::from_utf8(bytes) {
                Ok(text) => text.to_owned(),
                Err(_) => String::from_utf8_lossy(bytes).into_owned(),
            },
            Encoding::Utf16Le | Encoding::Utf16Be => {
                let units: Vec<u16> = bytes
                    .chunks(2)
                    .map(|c| match (self, c) {
                        (Encoding::Utf16Le, [a, b]) => u16::from_le_bytes([*a, *b]),
                        (_, [a, b]) => u16::from_be_bytes([*a, *b]),
                        // A dangling odd byte cannot be a character.
                        _ => 0xFFFD,
                    })
                    .collect();
                String::from_utf16_lossy(&units)
            }
        }
    }
}

/// One line (or a `max_log_size` piece of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Decoded text without the newline.
    pub text: String,
    /// File offset just past this line (and its newline).
    pub end: u64,
    /// The line was longer than `max_log_size` and this is a piece of it.
    pub split: bool,
}

/// Bytes read but not yet returned as lines.
#[derive(Debug)]
pub(crate) struct LineBuffer {
    encoding: Encoding,
    max_log_size: usize,
    /// `buf[pos..]` is held; the consumed prefix is dropped only when more bytes are appended,
    /// so taking a line never moves the rest of the buffer.
    buf: Vec<u8>,
    pos: usize,
    /// File offset of `buf[pos]`.
    start: u64,
}

impl LineBuffer {
    /// An empty buffer positioned at `offset`.
    pub(crate) fn new(encoding: Encoding, max_log_size: usize, offset: u64) -> LineBuffer {
        LineBuffer {
            encoding,
            max_log_size: max_log_size.max(encoding.unit() * 2),
            buf: Vec::new(),
            pos: 0,
            start: offset,
        }
    }

    fn held(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// File offset just past the bytes held.
    pub(crate) fn end(&self) -> u64 {
        self.start + self.len() as u64
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes that decide whether a line is split: `max_log_size` of content plus room for the
    /// newline that may end it. A line of exactly `max_log_size` bytes is not split, and a piece
    /// is cut only once a byte that is not its newline follows it (so no empty record trails a
    /// line whose length is a multiple of `max_log_size`).
    fn window(&self) -> usize {
        self.max_log_size + self.encoding.newline().len()
    }

    /// Room left before a line would be split.
    pub(crate) fn room(&self) -> usize {
        self.window().saturating_sub(self.len())
    }

    /// Appends bytes read at [`end`](Self::end).
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            // Only the unfinished tail moves, once per read.
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line; with `flush`, the unterminated rest counts as a line too.
    pub(crate) fn next_line(&mut self, flush: bool) -> Option<Line> {
        let newline = self.encoding.newline();
        let held = self.held();
        let limit = held.len().min(self.max_log_size + newline.len());
        let window = held.get(..limit).unwrap_or(held);
        let found = match self.encoding {
            // A plain byte search (vectorised), not a slice comparison per byte.
            Encoding::Utf8 => window.iter().position(|b| *b == b'\n'),
            Encoding::Utf16Le | Encoding::Utf16Be => window
                .chunks_exact(2)
                .position(|c| c == newline)
                .map(|i| i * 2),
        };
        let (content, consumed, split) = match found {
            Some(pos) if pos <= self.max_log_size => (pos, pos + newline.len(), false),
            _ if held.len() >= limit && limit == self.window() => {
                let cut = self.split_point();
                (cut, cut, true)
            }
            _ if flush && !held.is_empty() => (held.len(), held.len(), false),
            _ => return None,
        };
        let mut bytes = held.get(..content).unwrap_or(held);
        let cr: &[u8] = match self.encoding {
            Encoding::Utf8 => b"\r",
            Encoding::Utf16Le => b"\r\0",
            Encoding::Utf16Be => b"\0\r",
        };
        if !split && bytes.ends_with(cr) {
            bytes = bytes.strip_suffix(cr).unwrap_or(bytes);
        }
        let text = self.encoding.decode(bytes);
        self.pos += consumed;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.start += consumed as u64;
        Some(Line {
            text,
            end: self.start,
            split,
        })
    }

    /// Where to cut an overlong line: at `max_log_size`, moved back to a character boundary so
    /// no character is broken in two.
    fn split_point(&self) -> usize {
        let mut cut = self.max_log_size;
        let held = self.held();
        match self.encoding {
            Encoding::Utf8 => {
                let floor = cut.saturating_sub(3);
                while cut > floor && held.get(cut).is_some_and(|b| (b & 0xC0) == 0x80) {
                    cut -= 1;
                }
                if cut == floor {
                    cut = self.max_log_size;
                }
            }
            Encoding::Utf16Le | Encoding::Utf16Be => cut -= cut % 2,
        }
        cut
    }
}

/// `multiline:` settings, built.
#[derive(Debug, Clone)]
pub(crate) enum Multiline {
    /// A record starts at each line matching the pattern.
    Start(Regex),
    /// A record ends at each line matching the pattern.
    End(Regex),
}

/// A record: one line, or several joined by multiline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// The text.
    pub text: String,
    /// File offset just past the record.
    pub end: u64,
    /// The record was cut at `max_log_size`.
    pub split: bool,
}

/// Joins lines into records.
#[derive(Debug)]
pub(crate) struct Aggregator {
    multiline: Option<Multiline>,
    max_log_size: usize,
    pending: Option<Record>,
}

impl Aggregator {
    /// An aggregator; without `multiline` every line is a record.
    pub(crate) fn new(multiline: Option<Multiline>, max_log_size: usize) -> Aggregator {
        Aggregator {
            multiline,
            max_log_size,
            pending: None,
        }
    }

    /// Whether a record is waiting for more lines.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Takes a line; returns a record when one is complete.
    pub(crate) fn push(&mut self, line: Line) -> Option<Record> {
        let Some(multiline) = &self.multiline else {
            return Some(Record {
                text: line.text,
                end: line.end,
                split: line.split,
            });
        };
        match multiline {
            Multiline::Start(re) => {
                if re.is_match(&line.text) {
                    let done = self.pending.take();
                    self.pending = Some(Record {
                        text: line.text,
                        end: line.end,
                        split: line.split,
                    });
                    done
                } else {
                    self.append(line)
                }
            }
            Multiline::End(re) => {
                let is_end = re.is_match(&line.text);
                let over = self.append(line);
                if over.is_some() {
                    return over;
                }
                if is_end { self.pending.take() } else { None }
            }
        }
    }

    fn append(&mut self, line: Line) -> Option<Record> {
        match &mut self.pending {
            Some(record) => {
                record.text.push('\n');
                record.text.push_str(&line.text);
                record.end = line.end;
                record.split |= line.split;
            }
            None => {
                self.pending = Some(Record {
                    text: line.text,
                    end: line.end,
                    split: line.split,
                });
            }
        }
        // A record that never sees its next start line must not grow without bound.
        if self
            .pending
            .as_ref()
            .is_some_and(|r| r.text.len() >= self.max_log_size)
        {
            let mut record = self.pending.take()?;
            record.split = true;
            return Some(record);
        }
        None
    }

    /// The waiting record (force flush or end of file).
    pub(crate) fn flush(&mut self) -> Option<Record> {
        self.pending.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buf: &mut LineBuffer, flush: bool) -> Vec<(String, u64, bool)> {
        std::iter::from_fn(|| buf.next_line(flush))
            .map(|l| (l.text, l.end, l.split))
            .collect()
    }

    #[test]
    fn utf8_lines_offsets_crlf_and_partial() {
        let mut b = LineBuffer::new(Encoding::Utf8, 1024, 100);
        b.extend(b"one\r\ntwo\nthr");
        assert_eq!(
            lines(&mut b, false),
            vec![("one".into(), 105, false), ("two".into(), 109, false)]
        );
        assert_eq!(b.len(), 3);
        b.extend(b"ee\n");
        assert_eq!(lines(&mut b, false), vec![("three".into(), 115, false)]);
        b.extend(b"tail");
        assert!(lines(&mut b, false).is_empty());
        assert_eq!(lines(&mut b, true), vec![("tail".into(), 119, false)]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        let mut b = LineBuffer::new(Encoding::Utf8, 1024, 0);
        b.extend(b"a\xffb\n");
        assert_eq!(lines(&mut b, false), vec![("a\u{FFFD}b".into(), 4, false)]);
    }

    #[test]
    fn long_lines_are_split_on_char_boundaries() {
        let mut b = LineBuffer::new(Encoding::Utf8, 4, 0);
        b.extend("abcdefgh\nabcé\n".as_bytes());
        // The cut backs off so é is not broken in two.
        assert_eq!(
            lines(&mut b, false),
            vec![
                ("abcd".into(), 4, true),
                ("efgh".into(), 9, false),
                ("abc".into(), 12, true),
                ("é".into(), 15, false)
            ]
        );
    }

    #[test]
    fn a_line_of_a_multiple_of_max_log_size_leaves_no_empty_record() {
        let mut b = LineBuffer::new(Encoding::Utf8, 4, 0);
        // The newline arrives in a later read than the bytes before it.
        b.extend(b"abcdefgh");
        assert_eq!(lines(&mut b, false), vec![("abcd".into(), 4, true)]);
        assert!(b.room() > 0, "the reader must be able to fetch the newline");
        b.extend(b"\nnext\n");
        assert_eq!(
            lines(&mut b, false),
            vec![("efgh".into(), 9, false), ("next".into(), 14, false)]
        );
    }

    #[test]
    fn utf16_both_byte_orders() {
        let text = "héllo\nwörld\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for (enc, bytes) in [(Encoding::Utf16Le, le), (Encoding::Utf16Be, be)] {
            let mut b = LineBuffer::new(enc, 1024, 0);
            b.extend(&bytes);
            assert_eq!(
                lines(&mut b, false),
                vec![("héllo".into(), 12, false), ("wörld".into(), 24, false)]
            );
        }
        assert!(Encoding::parse("latin1").is_err());
        assert_eq!(Encoding::parse("UTF-16LE"), Ok(Encoding::Utf16Le));
    }

    fn line(text: &str, end: u64) -> Line {
        Line {
            text: text.into(),
            end,
            split: false,
        }
    }

    #[test]
    fn multiline_start_pattern_holds_last_record_until_flush() {
        let mut a = Aggregator::new(
            Some(Multiline::Start(Regex::new(r"^\d{4}-").unwrap())),
            1 << 20,
        );
        assert_eq!(a.push(line("2024-01 boom", 10)), None);
        assert_eq!(a.push(line("  at frame 1", 20)), None);
        let r = a.push(line("2024-02 next", 30)).unwrap();
        assert_eq!((r.text.as_str(), r.end), ("2024-01 boom\n  at frame 1", 20));
        assert!(a.has_pending());
        assert_eq!(a.flush().unwrap().text, "2024-02 next");
    }

    #[test]
    fn multiline_end_pattern_and_size_cap() {
        let mut a = Aggregator::new(Some(Multiline::End(Regex::new(r";$").unwrap())), 1 << 20);
        assert_eq!(a.push(line("select *", 9)), None);
        let r = a.push(line("from t;", 17)).unwrap();
        assert_eq!((r.text.as_str(), r.end), ("select *\nfrom t;", 17));
        let mut a = Aggregator::new(Some(Multiline::End(Regex::new(r";$").unwrap())), 8);
        assert_eq!(a.push(line("1234", 5)), None);
        let r = a.push(line("5678", 10)).unwrap();
        assert!(r.split);
    }
}
