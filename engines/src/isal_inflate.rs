//! Streaming decompression on ISA-L's `isal_inflate`, every framing (1.8x
//! zlib-rs and 2.6x system zlib over the corpus, fed 64 KiB at a time:
//! `examples/inflate_candidates.rs`), with zlib's contract on top:
//!
//! - exact consumption: ISA-L reads up to 8 bytes ahead into its bit buffer;
//!   after every call the whole bytes still there are handed back (they were
//!   read in this call), so a stream's end leaves the bytes after it unread,
//!   as zlib does (python's `unused_data`, git's packs, gzip members);
//! - the running checksum of the output after every call, as `strm->adler`
//!   (CRC-32 for raw deflate, as for gzip);
//! - errors as `Status`: a bad checksum is `ChecksumMismatch`, anything else
//!   `DataError`.
//!
//! ISA-L is built from `vendor/isal-sys`, patched to refuse the incomplete
//! Huffman codes zlib refuses; unpatched, it decoded raw streams zlib
//! refuses (the `inflate` fuzz target found one) and, with a forged
//! checksum, zlib and gzip ones too. `tests/huffman_codes.rs` and the fuzz
//! target hold it to zlib-rs's verdicts.

use isal::isal_sys::igzip_lib as ig;

use crate::{Format, Outcome, Result, Status};

pub(crate) struct IsalInflate {
    state: Box<ig::inflate_state>,
    format: Format,
    finished: bool,
    failed: Option<Status>,
    total_in: u64,
    total_out: u64,
}

// SAFETY: the state's raw pointers are only set for the duration of one `run`
// call, to slices that call borrows; between calls the state owns no pointer
// into anything else, so moving it to another thread is sound.
unsafe impl Send for IsalInflate {}

const ADLER_MOD: u32 = 65521;

impl IsalInflate {
    /// A stream of `format`; raw deflate reports the CRC-32 of its output.
    pub(crate) fn new(format: Format) -> Self {
        let crc_flag = match format {
            Format::Zlib => ig::ISAL_ZLIB,
            Format::Gzip => ig::ISAL_GZIP,
            // No header and no trailer, but the CRC-32 kept as for gzip.
            Format::Raw => ig::ISAL_GZIP_NO_HDR,
        };
        let mut state: Box<std::mem::MaybeUninit<ig::inflate_state>> = Box::new_uninit();
        // SAFETY: isal_inflate_init initializes every field of the state it is
        // given (it is ISA-L's documented constructor).
        unsafe { ig::isal_inflate_init(state.as_mut_ptr()) };
        // SAFETY: initialized just above.
        let mut state = unsafe { state.assume_init() };
        state.crc_flag = crc_flag;
        IsalInflate {
            state,
            format,
            finished: false,
            failed: None,
            total_in: 0,
            total_out: 0,
        }
    }

    pub(crate) fn reset(&mut self) {
        let crc_flag = self.state.crc_flag;
        // SAFETY: the state was initialized by isal_inflate_init.
        unsafe { ig::isal_inflate_reset(&mut *self.state) };
        self.state.crc_flag = crc_flag;
        self.finished = false;
        self.failed = None;
        self.total_in = 0;
        self.total_out = 0;
    }

    pub(crate) fn totals(&self) -> (u64, u64) {
        (self.total_in, self.total_out)
    }

    /// The checksum of the output so far. ISA-L keeps Adler-32 with A - 1
    /// in its low half until all output is decoded (then it checks the
    /// trailer, perhaps across calls).
    pub(crate) fn checksum(&self) -> u32 {
        let crc = self.state.crc;
        let final_adler =
            self.finished || self.state.block_state == ig::isal_block_state_ISAL_CHECKSUM_CHECK;
        match self.format {
            Format::Zlib if !final_adler => {
                (crc & 0xffff_0000) | (((crc & 0xffff) + 1) % ADLER_MOD)
            }
            _ => crc,
        }
    }

    pub(crate) fn run(&mut self, src: &[u8], dst: &mut [u8]) -> Result<Outcome> {
        // Like zlib's BAD mode: a failed stream keeps failing until reset.
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.finished {
            return Ok(Outcome {
                checksum: self.checksum(),
                stream_end: true,
                ..Outcome::default()
            });
        }
        // ISA-L counts in u32; larger slices are simply offered in part.
        let src = &src[..src.len().min(u32::MAX as usize)];
        let dst_len = dst.len().min(u32::MAX as usize);
        let st = &mut *self.state;
        st.next_in = src.as_ptr().cast_mut();
        st.avail_in = src.len() as u32;
        st.next_out = dst.as_mut_ptr();
        st.avail_out = dst_len as u32;
        // SAFETY: next_in/avail_in and next_out/avail_out describe `src` and
        // `dst`, live for this call; ISA-L reads and writes only within them
        // and its own state (it never writes through next_in).
        let ret = unsafe { ig::isal_inflate(st) };
        // On some errors ISA-L hands its buffered bytes back, more than this
        // call gave; the stream is dead then anyway.
        let (Some(mut consumed), Some(produced)) = (
            src.len().checked_sub(st.avail_in as usize),
            dst_len.checked_sub(st.avail_out as usize),
        ) else {
            self.failed = Some(Status::DataError);
            return Err(Status::DataError);
        };
        // zlib consumes every input byte while it has room to write, and at
        // the stream's end stops right after it; ISA-L reads up to 8 bytes
        // ahead into its bit buffer. So when the output filled up or the
        // stream ended, the whole bytes still in the bit buffer are handed
        // back (ISA-L takes them again from next_in). They are the last ones
        // it read from this call's input: bytes carried over from an earlier
        // call all lie before the stream's end, since that call ended with
        // its input used up and room left. While ISA-L holds bytes in
        // tmp_in_buffer the bit buffer was flushed there: nothing to hand back.
        let stream_end = st.block_state == ig::isal_block_state_ISAL_BLOCK_FINISH;
        let output_full = produced == dst_len;
        if (stream_end || output_full) && st.tmp_in_size == 0 {
            let unread = ((st.read_in_length / 8) as usize).min(consumed);
            if unread > 0 {
                st.read_in_length -= 8 * unread as i32;
                st.read_in = if st.read_in_length > 0 {
                    st.read_in & ((1u64 << st.read_in_length) - 1)
                } else {
                    0
                };
                consumed -= unread;
            }
        }
        st.next_in = std::ptr::null_mut();
        st.next_out = std::ptr::null_mut();
        st.avail_in = 0;
        st.avail_out = 0;
        self.total_in += consumed as u64;
        self.total_out += produced as u64;
        match ret {
            r if r == ig::ISAL_DECOMP_OK as i32 => {}
            r => {
                let e = if r == ig::ISAL_INCORRECT_CHECKSUM {
                    Status::ChecksumMismatch
                } else {
                    Status::DataError
                };
                self.failed = Some(e);
                return Err(e);
            }
        }
        self.finished = stream_end;
        Ok(Outcome {
            produced,
            consumed,
            checksum: self.checksum(),
            needed: 0,
            more_output: !stream_end && dst_len > 0 && produced == dst_len,
            stream_end,
        })
    }
}
