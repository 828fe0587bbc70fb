//! AES-GCM: AAD, one-shot and streamed messages, the tag, and TLS 1.2 records.

use super::{
    wipe, AesCtx, Io, IvState, OneShot, GCM_TAG_MAX, TLS_AAD_LEN, TLS_EXPLICIT_IV, TLS_FIXED_IV,
    TLS_TAG,
};
use crate::boundary::PResult;
use crate::{backend, bail, ffi, prov_err, stats};
use std::os::raw::c_int;
use std::ptr;

impl AesCtx {
    pub(super) fn gcm_aad(&mut self, aad: &[u8]) -> PResult<()> {
        if self.key.is_none() {
            bail!(NotInitialized, "no key set");
        }
        self.gcm_iv_on_demand()?;
        if matches!(self.iv_state, IvState::Finished | IvState::Unset) {
            self.check_ready()?;
        }
        if self.payload > 0 || self.aad_sent {
            bail!(InvalidParam, "AAD after payload");
        }
        self.aad.extend_from_slice(aad);
        Ok(())
    }

    fn gcm_flush_aad(&mut self) -> PResult<()> {
        if !self.aad_sent {
            let aad = std::mem::take(&mut self.aad);
            let s = self.ensure_stream()?;
            if !aad.is_empty() {
                s.aad(&aad)?;
            }
            self.aad_sent = true;
        }
        Ok(())
    }

    pub(super) fn gcm_data(&mut self, io: Io<'_>) -> PResult<usize> {
        let len = match &io {
            Io::Separate(i, _) => i.len(),
            Io::InPlace(b) => b.len(),
        };
        if self.oneshot.is_some() {
            self.gcm_replay()?;
        } else if self.payload == 0
            && !self.aad_sent
            && self.stream.is_none()
            && len >= backend::oneshot_min()
            && (self.enc || self.taglen.is_some_and(|t| t >= 4))
        {
            return self.gcm_oneshot(io, len);
        }
        self.gcm_stream_data(io)
    }

    /// The whole message as one request the core may put on a queue (the tag is known
    /// on decryption: TLS 1.3 sets it before the record). A failure of any kind, a tag
    /// mismatch included (EVP hands out the plaintext and fails at final), goes the
    /// stream way instead.
    fn gcm_oneshot(&mut self, io: Io<'_>, len: usize) -> PResult<usize> {
        self.gcm_iv_on_demand()?;
        self.check_ready()?;
        let (input, out): (Vec<u8>, &mut [u8]) = match io {
            Io::Separate(i, o) => (i.to_vec(), &mut o[..len]),
            Io::InPlace(b) => (b.to_vec(), b),
        };
        let key = self.key.as_ref().ok_or_else(|| prov_err!(NotInitialized))?;
        let iv = &self.iv[..self.ivlen];
        let r = if self.enc {
            let mut tag = [0u8; GCM_TAG_MAX];
            backend::gcm_seal(key.get(), iv, &self.aad, &input, out, &mut tag)
                .map(|()| self.tag = tag)
        } else {
            let tl = self.taglen.unwrap_or(GCM_TAG_MAX);
            let tag = self.tag;
            backend::gcm_open(key.get(), iv, &self.aad, &input, &tag[..tl], out)
        };
        if r.is_err() {
            return self.gcm_stream_data(Io::Separate(&input, out));
        }
        self.iv_state = IvState::InUse;
        self.aad_sent = true;
        self.payload = len as u64;
        self.oneshot = Some(OneShot { input });
        stats::bump(&stats::P.oneshot, 1);
        Ok(len)
    }

    /// Carries a one-shot message on as a stream: AAD and the first update's input again
    /// (the output went out already).
    pub(super) fn gcm_replay(&mut self) -> PResult<()> {
        let Some(os) = self.oneshot.take() else {
            return Ok(());
        };
        self.aad_sent = false;
        self.payload = 0;
        let mut scratch = os.input.clone();
        let r = self.gcm_stream_data(Io::InPlace(&mut scratch));
        wipe(&mut scratch);
        r.map(|_| ())
    }

    fn gcm_stream_data(&mut self, io: Io<'_>) -> PResult<usize> {
        self.ensure_stream()?;
        self.gcm_flush_aad()?;
        let s = self
            .stream
            .as_mut()
            .ok_or_else(|| prov_err!(NotInitialized))?;
        let n = match io {
            Io::Separate(i, o) => s.update(i, &mut o[..i.len()])?,
            Io::InPlace(b) => s.update_in_place(b)?,
        };
        self.payload += n as u64;
        Ok(n)
    }

    pub(super) fn gcm_final(&mut self) -> PResult<usize> {
        if self.key.is_none() {
            bail!(NotInitialized, "no key set");
        }
        if self.tls_aad.is_some() {
            bail!(InvalidParam, "final in TLS record mode");
        }
        let r = self.gcm_final_inner();
        self.park_stream();
        self.iv_state = IvState::Finished;
        self.aad.clear();
        r.map(|()| 0)
    }

    fn gcm_final_inner(&mut self) -> PResult<()> {
        if self.oneshot.take().is_some() {
            // Sealed (tag in `self.tag`) or opened with its tag checked by the core.
            if self.enc {
                self.tag_ready = true;
                self.tag_pending = false;
            }
            stats::bump(&stats::P.gcm_ops, 1);
            stats::bump(&stats::P.gcm_bytes, self.payload);
            return Ok(());
        }
        self.ensure_stream()?;
        self.gcm_flush_aad()?;
        let (enc, taglen, tag) = (self.enc, self.taglen, self.tag);
        let s = self
            .stream
            .as_mut()
            .ok_or_else(|| prov_err!(NotInitialized))?;
        if enc {
            s.finish()?;
            // The tag stays in the stream (parked by gcm_final) until asked for.
            self.tag_ready = true;
            self.tag_pending = true;
        } else {
            let tl = taglen.ok_or_else(|| prov_err!(InvalidTag, "no tag set before final"))?;
            s.set_tag(&tag[..tl])?;
            s.finish()?;
        }
        stats::bump(&stats::P.gcm_ops, 1);
        stats::bump(&stats::P.gcm_bytes, self.payload);
        Ok(())
    }

    /// Starts a message with the current IV (TLS IV generation / invocation field).
    fn gcm_start_record(&mut self) -> PResult<()> {
        self.oneshot = None;
        self.park_stream();
        self.iv_state = IvState::Buffered;
        self.aad.clear();
        self.aad_sent = false;
        self.payload = 0;
        self.tag_ready = false;
        self.tag_pending = false;
        self.ensure_stream().map(|_| ())
    }

    /// tlsivgen: hands out the invocation field of the IV about to be used and advances it.
    /// `size` 0 (or over the IV length) asks for the whole IV, as the default provider
    /// reads it.
    ///
    /// # Safety
    /// `out` is writable for `size` bytes, or for the IV length when `size` is 0 or
    /// larger (the EVP_CTRL_GCM_IV_GEN contract).
    pub(super) unsafe fn gcm_iv_gen(&mut self, out: *mut u8, size: usize) -> PResult<usize> {
        if !self.iv_gen || self.key.is_none() {
            bail!(InvalidParam, "no fixed IV set (tlsivfixed) or no key");
        }
        self.gcm_start_record()?;
        let olen = if size == 0 || size > self.ivlen {
            self.ivlen
        } else {
            size
        };
        let src = &self.iv[self.ivlen - olen..self.ivlen];
        // SAFETY: `out` is writable for `olen` bytes (function contract) and does not
        // overlap `self.iv`.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), out, olen) };
        self.record_iv = self.iv;
        // The invocation field is at least 8 bytes: increment the last 8 as a counter.
        let tail = &mut self.iv[self.ivlen - 8..self.ivlen];
        let mut c = [0u8; 8];
        c.copy_from_slice(tail);
        tail.copy_from_slice(&u64::from_be_bytes(c).wrapping_add(1).to_be_bytes());
        Ok(olen)
    }

    /// tlsivinv: sets the invocation field received from the peer (decrypt side).
    pub(super) fn gcm_iv_inv(&mut self, inv: &[u8]) -> PResult<()> {
        if !self.iv_gen || self.key.is_none() || self.enc {
            bail!(
                InvalidParam,
                "tlsivinv needs a fixed IV, a key and decryption"
            );
        }
        if inv.len() > self.ivlen {
            bail!(InvalidIvLength);
        }
        let at = self.ivlen - inv.len();
        self.iv[at..self.ivlen].copy_from_slice(inv);
        self.gcm_start_record()
    }

    pub(super) fn gcm_iv_fixed(&mut self, data: *const u8, len: usize) -> PResult<()> {
        if len == usize::MAX {
            // Special case: the whole IV.
            if data.is_null() {
                bail!(InvalidParam);
            }
            // SAFETY: the caller passes a full IV (ivlen bytes) in this case.
            let iv = unsafe { std::slice::from_raw_parts(data, self.ivlen) };
            self.iv[..self.ivlen].copy_from_slice(iv);
        } else {
            if len < TLS_FIXED_IV || self.ivlen < len + 8 {
                bail!(InvalidIvLength, "fixed IV part of {len} bytes");
            }
            if len > 0 {
                if data.is_null() {
                    bail!(InvalidParam);
                }
                // SAFETY: an octet-string parameter's data is readable for data_size bytes.
                let fixed = unsafe { std::slice::from_raw_parts(data, len) };
                self.iv[..len].copy_from_slice(fixed);
            }
            if self.enc {
                let n = self.ivlen - len;
                // SAFETY: `self.iv[len..]` is writable for `n <= GCM_IV_MAX - len` bytes.
                if unsafe { ffi::RAND_bytes(self.iv[len..].as_mut_ptr(), n as c_int) } != 1 {
                    bail!(CoreFailure, "RAND_bytes");
                }
            }
        }
        self.iv_gen = true;
        self.iv_state = IvState::Buffered;
        Ok(())
    }

    pub(super) fn gcm_tls_aad(&mut self, aad: &[u8]) -> PResult<()> {
        if aad.len() != TLS_AAD_LEN {
            bail!(InvalidParam, "tlsaad of {} bytes", aad.len());
        }
        let mut a = [0u8; TLS_AAD_LEN];
        a.copy_from_slice(aad);
        let mut len = usize::from(u16::from_be_bytes([a[11], a[12]]));
        if len < TLS_EXPLICIT_IV {
            bail!(InvalidParam, "record too short");
        }
        len -= TLS_EXPLICIT_IV;
        if !self.enc {
            if len < TLS_TAG {
                bail!(InvalidParam, "record too short");
            }
            len -= TLS_TAG;
        }
        a[11..].copy_from_slice(&(len as u16).to_be_bytes());
        self.tls_aad = Some(a);
        self.tls_aad_pad = Some(TLS_TAG);
        Ok(())
    }

    /// One TLS 1.2 record in place: explicit IV | payload | tag.
    pub(super) fn gcm_tls(&mut self, buf: &mut [u8]) -> PResult<usize> {
        let r = self.gcm_tls_inner(buf);
        self.park_stream();
        self.iv_state = IvState::Finished;
        self.tls_aad = None;
        r
    }

    fn gcm_tls_inner(&mut self, buf: &mut [u8]) -> PResult<usize> {
        if self.key.is_none() {
            bail!(NotInitialized, "no key set");
        }
        if buf.len() < TLS_EXPLICIT_IV + TLS_TAG {
            bail!(InvalidParam, "record of {} bytes", buf.len());
        }
        let total = buf.len();
        let (explicit, rest) = buf.split_at_mut(TLS_EXPLICIT_IV);
        if self.enc {
            self.tls_records = self
                .tls_records
                .checked_add(1)
                .ok_or_else(|| prov_err!(InvalidParam, "too many records"))?;
            // SAFETY: `explicit` is writable for its 8 bytes.
            unsafe { self.gcm_iv_gen(explicit.as_mut_ptr(), explicit.len()) }?;
        } else {
            self.gcm_iv_inv(explicit)?;
        }
        let aad = self.tls_aad.ok_or_else(|| prov_err!(InvalidParam))?;
        let plen = rest.len() - TLS_TAG;
        let (payload, tag) = rest.split_at_mut(plen);
        let enc = self.enc;
        if plen >= backend::oneshot_min() {
            // Large record: one request the core may put on a queue.
            let key = self.key.as_ref().ok_or_else(|| prov_err!(NotInitialized))?;
            let iv = &self.iv[..self.ivlen];
            let copy = payload.to_vec();
            stats::bump(&stats::P.gcm_tls_records, 1);
            stats::bump(&stats::P.gcm_ops, 1);
            stats::bump(&stats::P.gcm_bytes, plen as u64);
            stats::bump(&stats::P.oneshot, 1);
            return if enc {
                // gcm_iv_gen already advanced self.iv: use the IV the stream was made with.
                let used = self.record_iv;
                backend::gcm_seal(key.get(), &used[..self.ivlen], &aad, &copy, payload, tag)
                    .map(|()| total)
            } else {
                let t = tag.to_vec();
                let r = backend::gcm_open(key.get(), iv, &aad, &copy, &t, payload);
                if r.is_err() {
                    wipe(payload);
                }
                r.map(|()| plen)
            };
        }
        let s = self
            .stream
            .as_mut()
            .ok_or_else(|| prov_err!(NotInitialized))?;
        s.aad(&aad)?;
        stats::bump(&stats::P.gcm_tls_records, 1);
        stats::bump(&stats::P.gcm_ops, 1);
        stats::bump(&stats::P.gcm_bytes, plen as u64);
        if enc {
            s.update_in_place(payload)?;
            s.finish()?;
            s.get_tag(tag)?;
            Ok(total)
        } else {
            s.set_tag(tag)?;
            let r = s.update_in_place(payload).and_then(|_| s.finish());
            if let Err(e) = r {
                wipe(payload);
                return Err(e);
            }
            Ok(plen)
        }
    }
}
