//! AES-CTR: one-shot requests for large aligned input, otherwise the stream.

use super::{ctr_add, AesCtx, Io, IvState, BLOCK};
use crate::backend::{self, CipherMode};
use crate::boundary::PResult;
use crate::{prov_err, stats};

impl AesCtx {
    pub(super) fn ctr_data(&mut self, io: Io<'_>) -> PResult<usize> {
        let len = match &io {
            Io::Separate(i, _) => i.len(),
            Io::InPlace(b) => b.len(),
        };
        if len >= backend::oneshot_min() && self.ctr_done % BLOCK as u64 == 0 {
            // Large and block aligned: one request the core may put on a queue.
            self.check_ready()?;
            let key = self.key.as_ref().ok_or_else(|| prov_err!(NotInitialized))?;
            let iv = ctr_add(&self.ctr_base, self.ctr_done / BLOCK as u64);
            let n = match io {
                Io::Separate(i, o) => backend::cipher_oneshot(
                    CipherMode::Ctr,
                    self.enc,
                    key.get(),
                    &iv,
                    i,
                    &mut o[..i.len()],
                )?,
                Io::InPlace(b) => {
                    let copy = b.to_vec();
                    backend::cipher_oneshot(CipherMode::Ctr, self.enc, key.get(), &iv, &copy, b)?
                }
            };
            self.park_stream(); // re-created at the new position when needed
            self.iv_state = IvState::InUse;
            self.ctr_done += n as u64;
            stats::bump(&stats::P.ctr_bytes, n as u64);
            stats::bump(&stats::P.oneshot, 1);
            return Ok(n);
        }
        let s = self.ensure_stream()?;
        let n = match io {
            Io::Separate(i, o) => s.update(i, &mut o[..i.len()])?,
            Io::InPlace(b) => s.update_in_place(b)?,
        };
        self.ctr_done += n as u64;
        stats::bump(&stats::P.ctr_bytes, n as u64);
        Ok(n)
    }
}
