//! Many requests in flight on one queue: submit, then poll or wait, each
//! request tagged with the caller's cookie. Requests own their buffers (as in
//! io_uring's owned-buffer APIs) so nothing the engine still reads or writes
//! can be freed or touched by the caller: the buffers come back with the
//! completion, or are released only after the queue has drained.

use std::sync::atomic::Ordering;

use crate::api::{
    alg_of_format, alg_of_hash, aux_area, check_aead, status_result, Aead, CipherMode, Direction,
    Format, HashAlg,
};
use crate::device::Warpdrive;
use crate::error::{Error, Result};
use crate::queue::Queue;
use crate::uapi::*;

/// What a request asks for.
#[derive(Debug, Clone)]
pub enum Operation {
    Nop,
    Compress {
        format: Format,
        level: u32,
    },
    Decompress {
        format: Format,
    },
    Digest(HashAlg),
    Hmac {
        alg: HashAlg,
        key: Vec<u8>,
    },
    /// AEAD encryption (AES-GCM or ChaCha20-Poly1305); the tag comes back in
    /// `Completion::tag`.
    Seal {
        alg: Aead,
        key: Vec<u8>,
        iv: Vec<u8>,
        aad: Vec<u8>,
        tag_len: usize,
    },
    /// AEAD decryption against `tag`.
    Open {
        alg: Aead,
        key: Vec<u8>,
        iv: Vec<u8>,
        aad: Vec<u8>,
        tag: Vec<u8>,
    },
    /// AES-CTR or AES-CBC.
    Cipher {
        mode: CipherMode,
        dir: Direction,
        key: Vec<u8>,
        iv: Vec<u8>,
        padding: bool,
    },
}

/// One request: its operation, input, how much output room to give it, and
/// a cookie the completion carries back.
#[derive(Debug)]
pub struct Request {
    pub op: Operation,
    pub input: Vec<u8>,
    pub output_capacity: usize,
    pub cookie: u64,
}

/// A finished request. `output` holds exactly the bytes produced.
#[derive(Debug)]
pub struct Completion {
    pub cookie: u64,
    pub result: Result<usize>,
    pub output: Vec<u8>,
    /// The tag of a `Seal`.
    pub tag: Vec<u8>,
    /// The request's input, handed back for reuse.
    pub input: Vec<u8>,
}

struct InFlight {
    cookie: u64,
    input: Vec<u8>,
    output: Vec<u8>,
    aux: Vec<u8>,
    tag_len: usize,
}

/// A queue of its own with many requests in flight. Send, not Sync: put it
/// in a Mutex to share it between threads.
pub struct AsyncQueue {
    // Declared first so that it drops (and drains) before the buffers.
    queue: Queue,
    slots: Vec<Option<InFlight>>,
    free: Vec<u32>,
    unpublished: bool,
}

fn build(op: &Operation) -> Result<(WdDesc, Vec<u8>, usize)> {
    let check_key = |k: &[u8]| {
        if matches!(k.len(), 16 | 24 | 32) {
            Ok(())
        } else {
            Err(Error::InvalidLength {
                what: "AES key",
                len: k.len(),
            })
        }
    };
    Ok(match op {
        Operation::Nop => (
            WdDesc {
                opcode: WD_OP_NOP,
                ..Default::default()
            },
            Vec::new(),
            0,
        ),
        Operation::Compress { format, level } => {
            if *level > 9 {
                return Err(Error::InvalidArgument("compression level must be 0..=9"));
            }
            (
                WdDesc {
                    opcode: WD_OP_COMPRESS,
                    alg: alg_of_format(*format),
                    level: *level as u8,
                    ..Default::default()
                },
                Vec::new(),
                0,
            )
        }
        Operation::Decompress { format } => (
            WdDesc {
                opcode: WD_OP_DECOMPRESS,
                alg: alg_of_format(*format),
                ..Default::default()
            },
            Vec::new(),
            0,
        ),
        Operation::Digest(alg) => (
            WdDesc {
                opcode: WD_OP_HASH,
                alg: alg_of_hash(*alg, false),
                ..Default::default()
            },
            Vec::new(),
            0,
        ),
        Operation::Hmac { alg, key } => {
            if key.len() > WD_MAX_KEY_BYTES as usize {
                return Err(Error::InvalidLength {
                    what: "HMAC key",
                    len: key.len(),
                });
            }
            (
                WdDesc {
                    opcode: WD_OP_HASH,
                    alg: alg_of_hash(*alg, true),
                    key_len: key.len() as u8,
                    ..Default::default()
                },
                key.clone(),
                0,
            )
        }
        Operation::Seal {
            alg,
            key,
            iv,
            aad,
            tag_len,
        } => {
            check_aead(*alg, key, iv, *tag_len, aad)?;
            let desc = WdDesc {
                opcode: WD_OP_ENCRYPT,
                alg: alg.alg(),
                key_len: key.len() as u8,
                iv_len: iv.len() as u8,
                tag_len: *tag_len as u8,
                aad_len: aad.len() as u32,
                ..Default::default()
            };
            (desc, aux_area(key, iv, aad, &vec![0; *tag_len]), *tag_len)
        }
        Operation::Open {
            alg,
            key,
            iv,
            aad,
            tag,
        } => {
            check_aead(*alg, key, iv, tag.len(), aad)?;
            let desc = WdDesc {
                opcode: WD_OP_DECRYPT,
                alg: alg.alg(),
                key_len: key.len() as u8,
                iv_len: iv.len() as u8,
                tag_len: tag.len() as u8,
                aad_len: aad.len() as u32,
                ..Default::default()
            };
            (desc, aux_area(key, iv, aad, tag), 0)
        }
        Operation::Cipher {
            mode,
            dir,
            key,
            iv,
            padding,
        } => {
            check_key(key)?;
            if iv.len() != 16 {
                return Err(Error::InvalidLength {
                    what: "IV",
                    len: iv.len(),
                });
            }
            let alg = match mode {
                CipherMode::Ctr => WD_ALG_AES_CTR,
                CipherMode::Cbc => WD_ALG_AES_CBC,
                CipherMode::Gcm => return Err(Error::InvalidArgument("use Seal/Open for GCM")),
            };
            let mut desc = WdDesc {
                opcode: if *dir == Direction::Encrypt {
                    WD_OP_ENCRYPT
                } else {
                    WD_OP_DECRYPT
                },
                alg,
                key_len: key.len() as u8,
                iv_len: 16,
                ..Default::default()
            };
            if *mode == CipherMode::Cbc && !padding {
                desc.flags |= WD_DESC_F_NO_PADDING;
            }
            (desc, aux_area(key, iv, &[], &[]), 0)
        }
    })
}

impl AsyncQueue {
    /// Binds a dedicated queue on `wd`'s backend.
    pub fn new(wd: &Warpdrive) -> Result<AsyncQueue> {
        let queue = wd.bind_queue()?;
        if queue.features() & WD_FEAT_SVA == 0 {
            return Err(Error::Unsupported(
                "asynchronous requests need an SVA queue",
            ));
        }
        Ok(AsyncQueue {
            queue,
            slots: Vec::new(),
            free: Vec::new(),
            unpublished: false,
        })
    }

    pub fn in_flight(&self) -> usize {
        self.queue.inflight() as usize
    }

    /// Queues a request; it becomes visible to the engine at the next
    /// `flush`, `poll` or `wait`. A full queue gives the request back with
    /// `Error::Busy`: reap completions, then retry.
    #[allow(clippy::result_large_err)] // the request comes back to be retried
    pub fn submit(&mut self, req: Request) -> std::result::Result<(), (Error, Request)> {
        if req.input.len() > WD_MAX_REQUEST_BYTES as usize
            || req.output_capacity > WD_MAX_REQUEST_BYTES as usize
        {
            return Err((
                Error::InvalidLength {
                    what: "request",
                    len: req.input.len(),
                },
                req,
            ));
        }
        let (mut desc, aux, tag_len) = match build(&req.op) {
            Ok(v) => v,
            Err(e) => return Err((e, req)),
        };
        if !self.queue.has_room() {
            return Err((Error::Busy, req));
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        let mut f = InFlight {
            cookie: req.cookie,
            input: req.input,
            output: vec![0; req.output_capacity],
            aux,
            tag_len,
        };
        desc.user_data = slot as u64;
        desc.src_len = f.input.len() as u32;
        desc.src_addr = if f.input.is_empty() {
            0
        } else {
            f.input.as_ptr() as u64
        };
        desc.dst_len = f.output.len() as u32;
        desc.dst_addr = if f.output.is_empty() {
            0
        } else {
            f.output.as_mut_ptr() as u64
        };
        desc.aux_addr = if f.aux.is_empty() {
            0
        } else {
            f.aux.as_mut_ptr() as u64
        };
        // SAFETY: the buffers move into `slots` (a Vec's heap storage does not
        // move with it) and stay there until the completion for `slot` is
        // reaped; on drop the queue drains before the slots are freed.
        if let Err(e) = unsafe { self.queue.push(&desc) } {
            self.free.push(slot);
            let req = Request {
                op: req.op,
                input: std::mem::take(&mut f.input),
                output_capacity: f.output.len(),
                cookie: f.cookie,
            };
            return Err((e, req));
        }
        self.slots[slot as usize] = Some(f);
        self.unpublished = true;
        let c = &self.queue.counters;
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.max_inflight
            .fetch_max(self.queue.inflight() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Makes every submitted request visible to the engine.
    pub fn flush(&mut self) -> Result<()> {
        if self.unpublished {
            self.unpublished = false;
            self.queue.submit()?;
        }
        Ok(())
    }

    fn complete(&mut self, cqe: WdCqe) -> Result<Completion> {
        let slot = cqe.user_data as usize;
        let f = self
            .slots
            .get_mut(slot)
            .and_then(Option::take)
            .ok_or_else(|| Error::internal("completion for an unknown request"))?;
        self.free.push(slot as u32);
        let InFlight {
            cookie,
            input,
            mut output,
            aux,
            tag_len,
        } = f;
        let result = status_result(&cqe, "request").map(|()| cqe.produced as usize);
        let c = &self.queue.counters;
        if result.is_ok() {
            c.bytes_in.fetch_add(cqe.consumed as u64, Ordering::Relaxed);
            c.bytes_out
                .fetch_add(cqe.produced as u64, Ordering::Relaxed);
        } else {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        let mut tag = Vec::new();
        match &result {
            Ok(n) => {
                output.truncate(*n);
                if tag_len > 0 {
                    tag = aux[aux.len() - tag_len..].to_vec();
                }
            }
            Err(_) => output.clear(),
        }
        Ok(Completion {
            cookie,
            result,
            output,
            tag,
            input,
        })
    }

    /// A file descriptor that becomes readable when completions may be
    /// ready, for callers that sleep in poll/epoll/select (OpenSSL's async
    /// jobs, event loops). After it fires: `ack_wait_fd()`, then `poll()`
    /// until it returns None, then wait on the descriptor again. It stays
    /// owned by the queue.
    pub fn wait_fd(&self) -> Result<std::os::fd::RawFd> {
        self.queue.wait_fd()
    }

    /// Re-arms `wait_fd`; call it before draining completions with `poll()`.
    pub fn ack_wait_fd(&self) {
        self.queue.ack_wait_fd()
    }

    /// A completion if one is ready.
    pub fn poll(&mut self) -> Result<Option<Completion>> {
        self.flush()?;
        match self.queue.reap()? {
            Some(cqe) => self.complete(cqe).map(Some),
            None => Ok(None),
        }
    }

    /// The next completion, waiting for it (polls, then sleeps).
    pub fn wait(&mut self) -> Result<Completion> {
        self.flush()?;
        if self.queue.inflight() == 0 {
            return Err(Error::InvalidArgument("nothing in flight"));
        }
        let cqe = self.queue.wait()?;
        self.complete(cqe)
    }
}
