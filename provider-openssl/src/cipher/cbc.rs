//! AES-CBC: block buffering, the chaining value and PKCS#7 padding.

use super::{wipe, AesCtx, IvState, BLOCK};
use crate::backend::{self, CipherMode};
use crate::boundary::PResult;
use crate::{bail, prov_err, stats};
use std::ptr;

impl AesCtx {
    /// Whole blocks through the core, tracking the chaining value.
    fn cbc_blocks(&mut self, input: &[u8], output: &mut [u8]) -> PResult<()> {
        debug_assert!(input.len() % BLOCK == 0 && output.len() >= input.len());
        if input.is_empty() {
            return Ok(());
        }
        let enc = self.enc;
        let n = if input.len() >= backend::oneshot_min() {
            self.check_ready()?;
            let key = self.key.as_ref().ok_or_else(|| prov_err!(NotInitialized))?;
            let n = backend::cipher_oneshot(
                CipherMode::Cbc,
                enc,
                key.get(),
                &self.chain,
                input,
                &mut output[..input.len()],
            )?;
            self.park_stream(); // re-created from the new chaining value when needed
            self.iv_state = IvState::InUse;
            stats::bump(&stats::P.oneshot, 1);
            n
        } else {
            let s = self.ensure_stream()?;
            s.update(input, &mut output[..input.len()])?
        };
        if n != input.len() {
            bail!(CoreFailure, "CBC produced {n} of {} bytes", input.len());
        }
        let last = if enc {
            &output[n - BLOCK..n]
        } else {
            &input[n - BLOCK..n]
        };
        self.chain.copy_from_slice(last);
        stats::bump(&stats::P.cbc_bytes, n as u64);
        Ok(())
    }

    pub(super) fn cbc_data(&mut self, mut input: &[u8], output: &mut [u8]) -> PResult<usize> {
        self.check_ready()?;
        let need = self.out_len(input.len());
        let mut done = 0;
        if need > 0 && self.nbuf > 0 {
            // Complete the buffered block first.
            let take = BLOCK - self.nbuf;
            let mut blk = self.buf;
            blk[self.nbuf..].copy_from_slice(&input[..take]);
            input = &input[take..];
            self.nbuf = 0;
            self.cbc_blocks(&blk, &mut output[..BLOCK])?;
            done = BLOCK;
        }
        let direct = need - done;
        self.cbc_blocks(&input[..direct], &mut output[done..need])?;
        let rest = &input[direct..];
        self.buf[self.nbuf..self.nbuf + rest.len()].copy_from_slice(rest);
        self.nbuf += rest.len();
        Ok(need)
    }

    pub(super) fn cbc_final(&mut self, out: *mut u8, outsize: usize) -> PResult<usize> {
        self.check_ready()?;
        let r = self.cbc_final_inner(out, outsize);
        self.finished = true;
        self.park_stream();
        self.nbuf = 0;
        r
    }

    fn cbc_final_inner(&mut self, out: *mut u8, outsize: usize) -> PResult<usize> {
        if self.enc {
            if !self.padding {
                if self.nbuf != 0 {
                    bail!(WrongFinalBlockLength, "{} bytes left over", self.nbuf);
                }
                return Ok(0);
            }
            if outsize < BLOCK || out.is_null() {
                bail!(OutputTooSmall, "final needs {BLOCK} bytes");
            }
            let pad = (BLOCK - self.nbuf) as u8;
            let mut blk = self.buf;
            blk[self.nbuf..].fill(pad);
            let mut o = [0u8; BLOCK];
            self.cbc_blocks(&blk, &mut o)?;
            // SAFETY: `out` is writable for `outsize >= BLOCK` bytes.
            unsafe { ptr::copy_nonoverlapping(o.as_ptr(), out, BLOCK) };
            Ok(BLOCK)
        } else {
            if !self.padding {
                if self.nbuf != 0 {
                    bail!(WrongFinalBlockLength, "{} bytes left over", self.nbuf);
                }
                return Ok(0);
            }
            if self.nbuf != BLOCK {
                bail!(WrongFinalBlockLength, "{} bytes buffered", self.nbuf);
            }
            let blk = self.buf;
            let mut o = [0u8; BLOCK];
            self.cbc_blocks(&blk, &mut o)?;
            let pad = usize::from(o[BLOCK - 1]);
            // Padding check without early exit on the pad bytes.
            let mut bad = u8::from(pad == 0 || pad > BLOCK);
            let p = pad.clamp(1, BLOCK);
            for &b in &o[BLOCK - p..] {
                bad |= u8::from(b != o[BLOCK - 1]);
            }
            if bad != 0 {
                wipe(&mut o);
                bail!(BadDecrypt);
            }
            let n = BLOCK - pad;
            if n > 0 {
                if outsize < n || out.is_null() {
                    wipe(&mut o);
                    bail!(OutputTooSmall, "final needs {n} bytes");
                }
                // SAFETY: `out` is writable for `outsize >= n` bytes.
                unsafe { ptr::copy_nonoverlapping(o.as_ptr(), out, n) };
            }
            wipe(&mut o);
            Ok(n)
        }
    }
}
