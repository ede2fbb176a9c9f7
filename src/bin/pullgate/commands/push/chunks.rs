//! Chunk planning for `pullgate push`: how big each PATCH is, where an interrupted upload
//! resumes (the registry's `Range` answer), and whether it can. Pure.
//!
//! The edge stores each chunk as one R2 multipart part, so every chunk but the last must be at
//! least `OCI-Chunk-Min-Length` and all of them the same size; a resumed upload keeps the size
//! it started with.

/// The chunk size unless asked otherwise: under every plan's body limit, above R2's 5 MiB parts.
pub const DEFAULT_CHUNK: u64 = 8 * 1024 * 1024;

/// The chunk size to use: the one asked for (or the default), raised to the registry's
/// advertised minimum.
pub fn chunk_size(requested: Option<u64>, advertised_min: Option<u64>) -> u64 {
    requested.unwrap_or(DEFAULT_CHUNK).max(advertised_min.unwrap_or(0)).max(1)
}

/// `OCI-Chunk-Min-Length`, when the answer has a sensible one.
pub fn advertised_min(header: Option<&str>) -> Option<u64> {
    header.and_then(|v| v.trim().parse::<u64>().ok()).filter(|n| *n > 0)
}

/// The offset an upload session's `Range: 0-<last>` answer says to continue from. `0-0` is
/// what distribution answers before any byte (a one-byte upload is never chunked, so it cannot
/// be meant here); no header means nothing was received.
pub fn resume_offset(range: Option<&str>) -> Result<u64, String> {
    let Some(value) = range.map(str::trim) else { return Ok(0) };
    let (start, end) = pullgate::service::hosted::route::content_range(value)
        .map_err(|_| format!("the registry's Range {value:?} is not <start>-<end>"))?;
    if start != 0 {
        return Err(format!("the registry's Range {value:?} does not start at 0"));
    }
    Ok(if end == 0 { 0 } else { end + 1 })
}

/// The chunks (start, length) that upload bytes `offset..size`.
pub fn plan(offset: u64, size: u64, chunk: u64) -> Vec<(u64, u64)> {
    let chunk = chunk.max(1);
    let mut chunks = Vec::new();
    let mut start = offset;
    while start < size {
        let length = chunk.min(size - start);
        chunks.push((start, length));
        start += length;
    }
    chunks
}

/// Whether an upload that has `offset` of `size` bytes, sent in `chunk`-sized parts, can go on:
/// it must stop on a chunk boundary (or be complete).
pub fn resumable(offset: u64, size: u64, chunk: u64) -> bool {
    offset == size || (offset < size && chunk > 0 && offset % chunk == 0)
}

/// `Content-Range` for a chunk, as distribution reads it (inclusive end).
pub fn content_range(start: u64, length: u64) -> String {
    format!("{start}-{}", start + length.max(1) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn chunk_sizes() {
        for (requested, min, want) in [
            (None, None, DEFAULT_CHUNK),
            (None, Some(5 * MIB), DEFAULT_CHUNK),
            (Some(6 * MIB), Some(5 * MIB), 6 * MIB),
            (Some(MIB), Some(5 * MIB), 5 * MIB),
            (None, Some(16 * MIB), 16 * MIB),
            (Some(0), None, 1),
        ] {
            assert_eq!(chunk_size(requested, min), want, "{requested:?} {min:?}");
        }
        assert_eq!(advertised_min(Some(" 5242880 ")), Some(5 * MIB));
        assert_eq!(advertised_min(Some("0")), None);
        assert_eq!(advertised_min(Some("lots")), None);
        assert_eq!(advertised_min(None), None);
    }

    #[test]
    fn resume_offsets() {
        for (range, want) in [
            (None, Ok(0)),
            (Some("0-0"), Ok(0)),
            (Some("0-8388607"), Ok(8 * MIB)),
            (Some("bytes=0-99"), Ok(100)),
            (Some("5-9"), Err(())),
            (Some("0-"), Err(())),
            (Some("garbage"), Err(())),
        ] {
            assert_eq!(resume_offset(range).map_err(|_| ()), want, "{range:?}");
        }
    }

    #[test]
    fn plans_cover_the_rest_in_equal_chunks() {
        assert_eq!(plan(0, 20 * MIB, 8 * MIB), vec![(0, 8 * MIB), (8 * MIB, 8 * MIB), (16 * MIB, 4 * MIB)]);
        assert_eq!(plan(16 * MIB, 20 * MIB, 8 * MIB), vec![(16 * MIB, 4 * MIB)]);
        assert_eq!(plan(16 * MIB, 16 * MIB, 8 * MIB), vec![]);
        assert_eq!(plan(0, 8 * MIB, 8 * MIB), vec![(0, 8 * MIB)]);
        assert_eq!(plan(0, 3, 0), vec![(0, 1), (1, 1), (2, 1)]);
    }

    #[test]
    fn resumes_only_on_a_chunk_boundary() {
        for (offset, size, chunk, want) in [
            (0, 20, 8, true),
            (8, 20, 8, true),
            (16, 20, 8, true),
            (20, 20, 8, true),
            (12, 20, 8, false),
            (24, 20, 8, false),
            (4, 20, 0, false),
        ] {
            assert_eq!(resumable(offset, size, chunk), want, "{offset} {size} {chunk}");
        }
        assert_eq!(content_range(0, 10), "0-9");
        assert_eq!(content_range(10, 5), "10-14");
    }
}
