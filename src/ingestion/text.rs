//! How a CSV file's bytes become text, and text becomes the bytes of an export: the
//! encodings staff's files come in (UTF-8, with or without a byte-order mark, and the GBK /
//! GB18030 that Excel on Chinese Windows writes), how an import tells them apart, a decoder
//! that reads a file as a stream (a few KiB at a time, whatever its size), and the export's
//! encoder. Plain functions over `io::Read`, unit-tested here.
//!
//! GB18030 is GBK's superset: every GBK file is a GB18030 file, and one decoder reads both.
//! An import told nothing takes a file that is valid UTF-8 as UTF-8 and any other as
//! GB18030 (a GBK or GB18030 file is practically never valid UTF-8, the other way round is
//! common); a file that is neither is refused, never stored as garbage.

use std::io::{self, Read};

use encoding_rs::{DecoderResult, GB18030};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A text encoding a CSV file may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum TextEncoding {
    #[serde(rename = "utf-8")]
    Utf8,
    /// Read as GB18030, which is its superset (the same bytes for every GBK character).
    #[serde(rename = "gbk")]
    Gbk,
    #[serde(rename = "gb18030")]
    Gb18030,
}

impl TextEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Gbk => "gbk",
            TextEncoding::Gb18030 => "gb18030",
        }
    }

    /// How a file in this encoding is read: GBK with GB18030's decoder.
    fn read_as(self) -> TextEncoding {
        match self {
            TextEncoding::Gbk => TextEncoding::Gb18030,
            other => other,
        }
    }
}

/// The encoding an import reads a file in, and whether it was found rather than asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEncoding {
    pub encoding: TextEncoding,
    pub detected: bool,
}

impl FileEncoding {
    /// UTF-8, as asked.
    pub const UTF8: FileEncoding = FileEncoding {
        encoding: TextEncoding::Utf8,
        detected: false,
    };

    /// Why a file whose line `line` holds bytes that are no text in this encoding is refused.
    pub fn not_text(self, line: u64) -> String {
        match (self.encoding.read_as(), self.detected) {
            (TextEncoding::Utf8, false) => format!(
                "the file is not UTF-8 text (line {line}); a GBK or GB18030 file is read with \
                 encoding=gb18030, or without encoding"
            ),
            (_, true) => format!(
                "the file is neither UTF-8 nor GBK/GB18030 text (line {line}); save it as UTF-8"
            ),
            (_, false) => format!(
                "the file is not GBK/GB18030 text (line {line}); a UTF-8 file is read with \
                 encoding=utf-8, or without encoding"
            ),
        }
    }
}

/// The UTF-8 byte-order mark.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reading chunk of [`scan`] and [`Decoded`].
const CHUNK: usize = 8 * 1024;

/// What reading a whole file found out about its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// It starts with the UTF-8 byte-order mark.
    pub bom: bool,
    /// It is valid UTF-8 throughout.
    pub utf8: bool,
    /// It is ASCII throughout (the same text in UTF-8, GBK and GB18030).
    pub ascii: bool,
}

/// Reads `file` through (rewind it after), a chunk at a time, never whole: whether it is
/// UTF-8. A UTF-8 sequence cut by the end of a chunk is carried into the next.
pub fn scan<R: Read>(mut file: R) -> io::Result<Scan> {
    let mut chunk = vec![0u8; CHUNK];
    let mut found = Scan {
        bom: false,
        utf8: true,
        ascii: true,
    };
    // Bytes read but not yet checked: the first three (for the byte-order mark), then those
    // of a UTF-8 sequence cut off by the end of a chunk (at most 3).
    let mut pending = 0usize;
    while pending < UTF8_BOM.len() {
        let read = read_some(&mut file, &mut chunk[pending..UTF8_BOM.len()])?;
        if read == 0 {
            break;
        }
        pending += read;
    }
    found.bom = chunk[..pending] == *UTF8_BOM;
    loop {
        let read = read_some(&mut file, &mut chunk[pending..])?;
        let filled = pending + read;
        found.ascii &= chunk[..filled].is_ascii();
        pending = 0;
        if found.utf8 {
            match std::str::from_utf8(&chunk[..filled]) {
                Ok(_) => {}
                // Cut off by the chunk's end, not wrong: checked again with the next chunk.
                Err(e) if e.error_len().is_none() && read > 0 => {
                    let valid = e.valid_up_to();
                    chunk.copy_within(valid..filled, 0);
                    pending = filled - valid;
                }
                // Wrong, or a sequence still open at the end of the file.
                Err(_) => found.utf8 = false,
            }
        }
        if read == 0 {
            return Ok(found);
        }
    }
}

/// The encoding an import reads a file in. A file that starts with the UTF-8 byte-order
/// mark is UTF-8 whatever was asked (the mark says so, and is no GBK text). Otherwise the
/// encoding asked for, except that a file of Chinese (non-ASCII) text that is valid UTF-8
/// is refused as GBK or GB18030: read so it would be stored as mojibake (UTF-8's three-byte
/// characters make valid GBK pairs), and real GBK text is practically never valid UTF-8.
/// Asked nothing: UTF-8 when the file is valid UTF-8, GB18030 (GBK's superset) when not.
pub fn choose(scan: Scan, asked: Option<TextEncoding>) -> Result<FileEncoding, String> {
    let found = |encoding, detected| Ok(FileEncoding { encoding, detected });
    match asked {
        _ if scan.bom => found(TextEncoding::Utf8, asked.is_none()),
        Some(TextEncoding::Gbk | TextEncoding::Gb18030) if scan.utf8 && !scan.ascii => Err(
            "the file is UTF-8 text, not GBK or GB18030: send it with encoding=utf-8, or \
             without encoding"
                .to_owned(),
        ),
        Some(asked) => found(asked, false),
        None if scan.utf8 => found(TextEncoding::Utf8, true),
        None => found(TextEncoding::Gb18030, true),
    }
}

/// Fills from `file`, retrying interruptions; 0 only at the end of the file.
fn read_some<R: Read>(file: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// A file as UTF-8 bytes, decoded from its encoding a chunk at a time: a character whose
/// bytes straddle two chunks is decoded whole (the decoder keeps its first bytes). Bytes
/// that are no text in the encoding stop the reading with an `InvalidData` error, and
/// [`Decoded::malformed_line`] says on which line they are. UTF-8 passes through as it is
/// (its checks, by line, are the CSV reader's).
pub struct Decoded<R> {
    inner: R,
    decoder: Option<encoding_rs::Decoder>,
    input: Box<[u8]>,
    input_at: usize,
    input_end: usize,
    output: Box<[u8]>,
    output_at: usize,
    output_end: usize,
    at_end: bool,
    finished: bool,
    /// Line breaks decoded so far.
    newlines: u64,
    malformed_line: Option<u64>,
}

impl<R: Read> Decoded<R> {
    pub fn new(inner: R, encoding: TextEncoding) -> Self {
        let decoder = match encoding.read_as() {
            TextEncoding::Utf8 => None,
            // GB18030's own byte-order mark, if a file has one, is not text.
            _ => Some(GB18030.new_decoder_with_bom_removal()),
        };
        let buffer = |size| vec![0u8; size].into_boxed_slice();
        Decoded {
            inner,
            input: buffer(if decoder.is_some() { CHUNK } else { 0 }),
            // A GB18030 character is at most 4 bytes and at most 4 in UTF-8: a chunk's
            // decoding fits, give or take what the decoder held back.
            output: buffer(if decoder.is_some() { 2 * CHUNK } else { 0 }),
            decoder,
            input_at: 0,
            input_end: 0,
            output_at: 0,
            output_end: 0,
            at_end: false,
            finished: false,
            newlines: 0,
            malformed_line: None,
        }
    }

    /// The line (from 1) of bytes that are no text in the file's encoding, once read.
    pub fn malformed_line(&self) -> Option<u64> {
        self.malformed_line
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(decoder) = self.decoder.as_mut() else {
            return self.inner.read(buf);
        };
        loop {
            if self.output_at < self.output_end {
                let n = buf.len().min(self.output_end - self.output_at);
                buf[..n].copy_from_slice(&self.output[self.output_at..self.output_at + n]);
                self.output_at += n;
                return Ok(n);
            }
            if self.malformed_line.is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the file is not text in its encoding",
                ));
            }
            if self.finished || buf.is_empty() {
                return Ok(0);
            }
            if self.input_at == self.input_end && !self.at_end {
                self.input_end = read_some(&mut self.inner, &mut self.input)?;
                self.input_at = 0;
                self.at_end = self.input_end == 0;
            }
            let (result, read, written) = decoder.decode_to_utf8_without_replacement(
                &self.input[self.input_at..self.input_end],
                &mut self.output,
                self.at_end,
            );
            self.input_at += read;
            self.output_at = 0;
            self.output_end = written;
            self.newlines += self.output[..written]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64;
            match result {
                DecoderResult::InputEmpty if self.at_end => self.finished = true,
                DecoderResult::InputEmpty | DecoderResult::OutputFull => {}
                // What came before the bad bytes is handed out first; the error comes next.
                DecoderResult::Malformed(_, _) => self.malformed_line = Some(self.newlines + 1),
            }
        }
    }
}

/// The encoding an export is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportEncoding {
    /// With a byte-order mark, so that spreadsheet programs read it as UTF-8.
    Utf8,
    /// GB18030: every character GBK has is written as GBK writes it (what Excel on Chinese
    /// Windows reads by default), the others (emoji, rare characters) in GB18030's
    /// four-byte form, so nothing is lost and the file imports back exactly.
    Gb18030,
}

impl ExportEncoding {
    /// `gbk` and `gb18030` are written alike (see [`ExportEncoding::Gb18030`]).
    pub fn of(asked: Option<TextEncoding>) -> Self {
        match asked {
            None | Some(TextEncoding::Utf8) => ExportEncoding::Utf8,
            Some(TextEncoding::Gbk | TextEncoding::Gb18030) => ExportEncoding::Gb18030,
        }
    }

    /// The `Content-Type` of a CSV file in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportEncoding::Utf8 => "text/csv; charset=utf-8",
            ExportEncoding::Gb18030 => "text/csv; charset=GB18030",
        }
    }

    /// What the file starts with, before its header line.
    pub fn preamble(self) -> &'static [u8] {
        match self {
            ExportEncoding::Utf8 => UTF8_BOM,
            ExportEncoding::Gb18030 => b"",
        }
    }

    /// Whole CSV lines (UTF-8, as the CSV writer gives them) in this encoding. GB18030
    /// encodes every character there is, so this never fails and never replaces one.
    pub fn encode(self, lines: Vec<u8>) -> Vec<u8> {
        match self {
            ExportEncoding::Utf8 => lines,
            ExportEncoding::Gb18030 => {
                let text = String::from_utf8_lossy(&lines);
                GB18030.encode(&text).0.into_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gb18030(text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = GB18030.encode(text);
        assert!(!unmappable);
        bytes.into_owned()
    }

    /// Reads `input` through a decoder in reads of `step` bytes from a source that gives
    /// `chunk` bytes at a time.
    fn decode(
        input: &[u8],
        encoding: TextEncoding,
        chunk: usize,
        step: usize,
    ) -> io::Result<Vec<u8>> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut decoded = Decoded::new(Trickle(input, chunk), encoding);
        let mut out = Vec::new();
        let mut buf = vec![0u8; step];
        loop {
            let n = decoded.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn characters_split_across_chunks_are_decoded_whole() {
        // Two-byte GBK characters and a four-byte GB18030 one (𠮷, outside GBK), cut at
        // every possible place by one-, two- and three-byte reads of the source.
        let text = "姓名,手机\n李娜,13800138000\n𠮷野家,13900139000\n".repeat(3);
        let bytes = gb18030(&text);
        assert_ne!(bytes, text.as_bytes());
        for chunk in [1, 2, 3, 7, CHUNK, 64 * 1024] {
            for step in [1, 5, 4096] {
                let out = decode(&bytes, TextEncoding::Gb18030, chunk, step).unwrap();
                assert_eq!(String::from_utf8(out).unwrap(), text, "{chunk}/{step}");
            }
        }
        // GBK is read with the same decoder.
        let out = decode(&gb18030("李娜"), TextEncoding::Gbk, 1, 1).unwrap();
        assert_eq!(out, "李娜".as_bytes());
        // UTF-8 passes through untouched (its checks are the CSV reader's).
        let raw = b"na\xFFme\n".to_vec();
        assert_eq!(decode(&raw, TextEncoding::Utf8, 1, 1).unwrap(), raw);
    }

    #[test]
    fn bytes_that_are_no_text_stop_the_reading_at_their_line() {
        let mut bytes = gb18030("姓名,手机\n李娜,1\n");
        // A lead byte followed by a comma, on line 3; then a file cut inside a character.
        bytes.extend_from_slice(b"\xC0,x\n");
        let mut decoded = Decoded::new(&bytes[..], TextEncoding::Gb18030);
        let mut out = Vec::new();
        let error = decoded.read_to_end(&mut out).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(decoded.malformed_line(), Some(3));
        assert_eq!(String::from_utf8(out).unwrap(), "姓名,手机\n李娜,1\n");
        let cut = [gb18030("李娜\n"), b"\xC4".to_vec()].concat();
        let mut decoded = Decoded::new(&cut[..], TextEncoding::Gb18030);
        assert!(decoded.read_to_end(&mut Vec::new()).is_err());
        assert_eq!(decoded.malformed_line(), Some(2));
    }

    fn resolved(bytes: &[u8], asked: Option<TextEncoding>) -> (TextEncoding, bool) {
        let found = choose(scan(bytes).unwrap(), asked).unwrap();
        (found.encoding, found.detected)
    }

    #[test]
    fn a_file_is_utf8_when_it_is_valid_utf8_and_gb18030_otherwise() {
        use TextEncoding::*;
        let detect = |bytes: &[u8]| resolved(bytes, None);
        assert_eq!(detect(b""), (Utf8, true));
        assert_eq!(detect("姓名,手机\n李娜,1\n".as_bytes()), (Utf8, true));
        assert_eq!(detect(&gb18030("姓名,手机\n李娜,1\n")), (Gb18030, true));
        // Past the first chunk, and a UTF-8 character cut by the chunk's end is no mistake.
        let mut late = "a".repeat(CHUNK - 1).into_bytes();
        late.extend_from_slice("李娜\n".as_bytes());
        assert_eq!(detect(&late), (Utf8, true));
        late.extend_from_slice(&gb18030("李娜"));
        assert_eq!(detect(&late), (Gb18030, true));
        // A UTF-8 sequence left open at the end.
        assert_eq!(detect(b"name\n\xE6\x9D"), (Gb18030, true));
        let found = scan(&late[..]).unwrap();
        assert_eq!((found.bom, found.utf8, found.ascii), (false, false, false));
        assert!(scan(&b"name,phone\n"[..]).unwrap().ascii);
    }

    #[test]
    fn a_byte_order_mark_beats_the_question_and_utf8_is_not_read_as_gbk() {
        use TextEncoding::*;
        let bom = [UTF8_BOM, "姓名".as_bytes()].concat();
        assert_eq!(resolved(&bom, Some(Gbk)), (Utf8, false));
        assert_eq!(resolved(&bom, None), (Utf8, true));
        assert!(scan(UTF8_BOM).unwrap().bom);
        assert!(!scan(&b"\xEF\xBB"[..]).unwrap().bom);
        // Otherwise the question is the answer...
        assert_eq!(resolved(b"name\n", Some(Gb18030)), (Gb18030, false));
        assert_eq!(resolved(&gb18030("李"), Some(Utf8)), (Utf8, false));
        assert_eq!(resolved(&gb18030("李"), Some(Gbk)), (Gbk, false));
        // ...unless it would make mojibake of UTF-8 Chinese.
        for asked in [Gbk, Gb18030] {
            let refused = choose(scan("姓名\n".as_bytes()).unwrap(), Some(asked)).unwrap_err();
            assert!(refused.contains("encoding=utf-8"), "{refused}");
        }
        let (mojibake, _) = GB18030.decode_without_bom_handling("姓名".as_bytes());
        assert_ne!(mojibake, "姓名", "what reading it as GBK would have stored");
    }

    #[test]
    fn exports_in_gb18030_keep_every_character_and_read_back() {
        let lines = "id,name\n1,李娜😀𠮷\n".as_bytes().to_vec();
        let utf8 = ExportEncoding::of(Some(TextEncoding::Utf8));
        assert_eq!(utf8.encode(lines.clone()), lines);
        assert_eq!(utf8.preamble(), UTF8_BOM);
        for asked in [TextEncoding::Gbk, TextEncoding::Gb18030] {
            let encoding = ExportEncoding::of(Some(asked));
            assert_eq!(encoding.content_type(), "text/csv; charset=GB18030");
            assert!(encoding.preamble().is_empty());
            let bytes = encoding.encode(lines.clone());
            // GBK's two bytes for 李 (C0 EE), as Excel on Chinese Windows reads them.
            assert!(bytes.windows(2).any(|w| w == b"\xC0\xEE"));
            assert_eq!(resolved(&bytes, None), (TextEncoding::Gb18030, true));
            assert_eq!(decode(&bytes, TextEncoding::Gb18030, 3, 2).unwrap(), lines);
        }
    }
}
