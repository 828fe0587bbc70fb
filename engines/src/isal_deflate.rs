//! Streaming compression on ISA-L's stateful `isal_deflate`, for the fast
//! levels: the history carries across flushes as in zlib, and a sync or full
//! flush ends on a byte boundary with an empty stored block, as zlib's does.

use isal::isal_sys::igzip_lib as ig;

use crate::{Flush, Format, Result, Status};

pub(crate) struct IsalDeflate {
    stream: Box<ig::isal_zstream>,
    /// The level's working memory; `stream.level_buf` points into it.
    level_buf: Box<[u8]>,
    gzip_flag: u16,
    level: u32,
    total_in: u64,
    total_out: u64,
}

// SAFETY: the stream's pointers are its own heap buffers (level_buf, the
// static default Huffman tables) or, during one `run`, the slices that call
// borrows; nothing is shared with another thread.
unsafe impl Send for IsalDeflate {}

/// What one call did.
pub(crate) struct Step {
    pub consumed: usize,
    pub produced: usize,
    pub stream_end: bool,
}

impl IsalDeflate {
    /// ISA-L `level` 1..=3 for `format`.
    pub(crate) fn new(format: Format, level: u32) -> Result<Self> {
        let buf_size = match level {
            1 => ig::ISAL_DEF_LVL1_DEFAULT,
            2 => ig::ISAL_DEF_LVL2_DEFAULT,
            3 => ig::ISAL_DEF_LVL3_DEFAULT,
            _ => return Err(Status::InvalidParam),
        };
        let gzip_flag = match format {
            Format::Raw => ig::IGZIP_DEFLATE,
            Format::Zlib => ig::IGZIP_ZLIB,
            Format::Gzip => ig::IGZIP_GZIP,
        } as u16;
        let mut stream: Box<std::mem::MaybeUninit<ig::isal_zstream>> = Box::new_uninit();
        // SAFETY: isal_deflate_init initializes every field of the stream
        // (ISA-L's documented constructor; it points hufftables at the
        // library's static default tables).
        unsafe { ig::isal_deflate_init(stream.as_mut_ptr()) };
        // SAFETY: initialized just above.
        let stream = unsafe { stream.assume_init() };
        let mut s = IsalDeflate {
            stream,
            level_buf: vec![0u8; buf_size as usize].into_boxed_slice(),
            gzip_flag,
            level,
            total_in: 0,
            total_out: 0,
        };
        s.set_params();
        Ok(s)
    }

    fn set_params(&mut self) {
        self.stream.level = self.level;
        self.stream.level_buf = self.level_buf.as_mut_ptr();
        self.stream.level_buf_size = self.level_buf.len() as u32;
        self.stream.gzip_flag = self.gzip_flag;
    }

    pub(crate) fn reset(&mut self) {
        // SAFETY: the stream was initialized by isal_deflate_init.
        unsafe { ig::isal_deflate_reset(&mut *self.stream) };
        self.set_params();
        self.total_in = 0;
        self.total_out = 0;
    }

    /// The history the next input may refer to; only right after `new` or
    /// `reset` (ISA-L keeps the last 32 KiB).
    pub(crate) fn set_dictionary(&mut self, dict: &[u8]) -> Result<()> {
        let len = u32::try_from(dict.len()).map_err(|_| Status::InvalidParam)?;
        // SAFETY: ISA-L copies at most `len` bytes from `dict` into its own
        // history and hash tables; it never writes through the pointer.
        let ret =
            unsafe { ig::isal_deflate_set_dict(&mut *self.stream, dict.as_ptr().cast_mut(), len) };
        if ret != ig::COMP_OK as i32 {
            return Err(Status::BadStream);
        }
        Ok(())
    }

    pub(crate) fn totals(&self) -> (u64, u64) {
        (self.total_in, self.total_out)
    }

    pub(crate) fn run(&mut self, src: &[u8], dst: &mut [u8], flush: Flush) -> Result<Step> {
        let src = &src[..src.len().min(u32::MAX as usize)];
        let dst_len = dst.len().min(u32::MAX as usize);
        let st = &mut *self.stream;
        st.next_in = src.as_ptr().cast_mut();
        st.avail_in = src.len() as u32;
        st.next_out = dst.as_mut_ptr();
        st.avail_out = dst_len as u32;
        st.flush = match flush {
            Flush::None | Flush::Finish => ig::NO_FLUSH,
            Flush::Sync => ig::SYNC_FLUSH,
            Flush::Full => ig::FULL_FLUSH,
        } as u16;
        st.end_of_stream = u16::from(flush == Flush::Finish);
        // SAFETY: next_in/avail_in and next_out/avail_out describe `src` and
        // `dst`, live for this call; ISA-L reads and writes only within them,
        // its level buffer and its own state.
        let ret = unsafe { ig::isal_deflate(st) };
        let consumed = src.len().checked_sub(st.avail_in as usize);
        let produced = dst_len.checked_sub(st.avail_out as usize);
        st.next_in = std::ptr::null_mut();
        st.next_out = std::ptr::null_mut();
        st.avail_in = 0;
        st.avail_out = 0;
        let (Some(consumed), Some(produced)) = (consumed, produced) else {
            return Err(Status::Internal);
        };
        if ret != ig::COMP_OK as i32 {
            return Err(Status::BadStream);
        }
        self.total_in += consumed as u64;
        self.total_out += produced as u64;
        Ok(Step {
            consumed,
            produced,
            stream_end: st.internal_state.state == ig::isal_zstate_state_ZSTATE_END,
        })
    }
}
