//! Whole-buffer gunzip of every member of a gzip file, with libdeflate: the feed's files are
//! read whole, and libdeflate decodes them about twice as fast as a streaming inflate.

use std::ffi::c_void;
use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE as FULL,
    libdeflate_result_LIBDEFLATE_SUCCESS as SUCCESS,
};

/// Why a gzip file could not be decoded to its end.
#[derive(Debug, PartialEq, Eq)]
pub struct Damaged {
    /// Bytes decoded from the members before the damaged one.
    pub decoded: usize,
}

/// Appends the decoded bytes of every member of `gz` to `out`: all of them, or none when a
/// member is damaged or truncated (`out` is then left as it was).
pub fn gunzip_members(gz: &[u8], out: &mut Vec<u8>) -> Result<(), Damaged> {
    let start = out.len();
    let decoder = Decompressor::new();
    let mut input = gz;
    // The last member's trailer holds its size (mod 2^32): a lower bound for one member,
    // exact for the usual single-member file. Deflate expands at most ~1032x.
    let mut room = trailer_size(gz)
        .max(gz.len().saturating_mul(4))
        .min(gz.len().saturating_mul(1032))
        .max(64 * 1024);
    while !input.is_empty() {
        out.reserve(room);
        let spare = out.spare_capacity_mut();
        let (avail, target) = (spare.len(), spare.as_mut_ptr().cast::<c_void>());
        let (mut read, mut written) = (0usize, 0usize);
        // SAFETY: `decoder` is a live decompressor; libdeflate reads `input.len()` bytes
        // from `input` and writes at most `avail` bytes to `target`, the spare capacity of `out`, and fills `read`
        // and `written` only when it succeeds.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                decoder.0.as_ptr(),
                input.as_ptr().cast::<c_void>(),
                input.len(),
                target,
                avail,
                &mut read,
                &mut written,
            )
        };
        match result {
            SUCCESS if read > 0 && written <= avail => {
                // SAFETY: libdeflate initialised the first `written` spare bytes.
                unsafe { out.set_len(out.len() + written) };
                input = &input[read.min(input.len())..];
            }
            FULL => {
                room = avail.saturating_mul(2);
            }
            _ => {
                let decoded = out.len() - start;
                out.truncate(start);
                return Err(Damaged { decoded });
            }
        }
    }
    Ok(())
}

/// The ISIZE field of the last 4 bytes, or 0 for input too short to hold a trailer.
fn trailer_size(gz: &[u8]) -> usize {
    match gz.len().checked_sub(4).and_then(|at| gz.get(at..)) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
        _ => 0,
    }
}

/// An owned libdeflate decompressor.
struct Decompressor(NonNull<libdeflate_decompressor>);

impl Decompressor {
    fn new() -> Self {
        // SAFETY: allocation takes no arguments; a null result means out of memory.
        let ptr = unsafe { libdeflate_alloc_decompressor() };
        Self(NonNull::new(ptr).expect("libdeflate could not allocate a decompressor"))
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `libdeflate_alloc_decompressor` and is freed once.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use proptest::collection::vec;
    use proptest::prelude::*;
    use std::io::Write;

    /// `data` as one gzip member.
    pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn gunzip(gz: &[u8]) -> Result<Vec<u8>, Damaged> {
        let mut out = Vec::new();
        gunzip_members(gz, &mut out).map(|()| out)
    }

    #[test]
    fn every_member_is_decoded_in_order() {
        let mut three = gz(b"one\n");
        three.extend(gz(b""));
        three.extend(gz(b"three\n"));
        assert_eq!(gunzip(&three).unwrap(), b"one\nthree\n");
    }

    #[test]
    fn output_grows_past_a_misleading_trailer() {
        // Highly compressible text: far more than 4x the input, and a first member far
        // larger than the last member's trailer says.
        let big = b"0123456789|".repeat(200_000);
        let mut two = gz(&big);
        two.extend(gz(b"x"));
        let mut expected = big.clone();
        expected.push(b'x');
        assert_eq!(gunzip(&two).unwrap(), expected);
    }

    #[test]
    fn a_damaged_member_fails_the_whole_input_and_leaves_out_unchanged() {
        let mut two = gz(b"first member\n");
        let second = gz(&b"second member\n".repeat(100));
        two.extend(&second[..second.len() - 3]);
        let mut out = b"kept".to_vec();
        assert_eq!(gunzip_members(&two, &mut out), Err(Damaged { decoded: 13 }));
        assert_eq!(out, b"kept");
        let mut bad_crc = gz(b"payload");
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 1;
        assert!(gunzip(&bad_crc).is_err());
        let mut trailing = gz(b"payload");
        trailing.extend(b"not gzip");
        assert!(gunzip(&trailing).is_err());
    }

    proptest! {
        #[test]
        fn members_decode_to_their_concatenation(
            parts in vec(vec(0u8..4, 0..3000), 1..5)
        ) {
            let gz: Vec<u8> = parts.iter().flat_map(|p| gz(p)).collect();
            prop_assert_eq!(gunzip(&gz).unwrap(), parts.concat());
        }

        #[test]
        fn any_bytes_after_the_magic_decode_or_fail_cleanly(tail in vec(any::<u8>(), 0..200)) {
            let mut input = vec![0x1f, 0x8b];
            input.extend(tail);
            let mut out = b"kept".to_vec();
            if gunzip_members(&input, &mut out).is_err() {
                prop_assert_eq!(out, b"kept".to_vec());
            }
        }
    }
}
