//! The kernel backend: `/dev/warpdrive/*` devices driven through the uapi.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use memmap2::MmapRaw;

use crate::sys;
use crate::uapi::*;

pub const DEV_DIR: &str = "/dev/warpdrive";
pub const SYSFS_CLASS: &str = "/sys/class/warpdrive";

/// A kernel device as discovery finds it.
#[derive(Debug, Clone)]
pub struct KernelDevice {
    pub name: String,
    pub path: PathBuf,
}

impl KernelDevice {
    /// Every `/dev/warpdrive/*` node, sorted by name.
    pub fn discover() -> Vec<KernelDevice> {
        let mut found: Vec<KernelDevice> = std::fs::read_dir(DEV_DIR)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| KernelDevice {
                name: e.file_name().to_string_lossy().into_owned(),
                path: e.path(),
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }

    /// One sysfs attribute of this device, trimmed.
    pub fn attribute(&self, name: &str) -> Option<String> {
        let p = Path::new(SYSFS_CLASS).join(&self.name).join(name);
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    }

    pub fn info(&self) -> io::Result<WdDeviceInfo> {
        let f = File::open(&self.path)?;
        sys::device_info(f.as_fd())
    }

    /// Opens a context and binds a queue, with SVA if the device offers it.
    pub(crate) fn bind(&self, sq_entries: u32) -> io::Result<KernelQueue> {
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        let mut bind = WdQueueBind {
            sq_entries,
            flags: WD_BIND_SVA,
            ..Default::default()
        };
        if let Err(e) = sys::bind_queue(file.as_fd(), &mut bind) {
            if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
                return Err(e);
            }
            bind = WdQueueBind {
                sq_entries,
                flags: WD_BIND_BUFFERS,
                ..Default::default()
            };
            sys::bind_queue(file.as_fd(), &mut bind)?;
        }
        if bind.abi_version != WD_ABI_VERSION {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "device speaks ABI {}, this library {}",
                    bind.abi_version, WD_ABI_VERSION
                ),
            ));
        }
        let ring = sys::map_device(&file, bind.ring_mmap_offset, bind.ring_mmap_size as usize)?;
        Ok(KernelQueue {
            bounce: None,
            ring: std::mem::ManuallyDrop::new(ring),
            file,
            bind,
            fork_gen: crate::device::fork_generation(),
        })
    }
}

/// A DMA buffer made by the device, mapped into this process.
pub(crate) struct Bounce {
    map: Option<MmapRaw>,
    handle: u32,
    size: usize,
}

impl Bounce {
    pub fn handle(&self) -> u32 {
        self.handle
    }

    fn ptr(&self) -> *mut u8 {
        self.map
            .as_ref()
            .map_or(std::ptr::null_mut(), |m| m.as_mut_ptr())
    }

    pub fn write(&self, offset: usize, data: &[u8]) {
        assert!(offset + data.len() <= self.size);
        // SAFETY: bounds checked; the buffer is shared with the device but
        // the device only touches it while a descriptor naming it is in
        // flight, and none is when the queue's owner writes.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr().add(offset), data.len()) };
    }

    pub fn read(&self, offset: usize, out: &mut [u8]) {
        assert!(offset + out.len() <= self.size);
        // SAFETY: as in write(); the descriptor has completed.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr().add(offset), out.as_mut_ptr(), out.len())
        };
    }
}

pub(crate) struct KernelQueue {
    bounce: Option<Bounce>,
    /// Unmapped by Drop, except in a fork child (see there).
    ring: std::mem::ManuallyDrop<MmapRaw>,
    file: File,
    pub bind: WdQueueBind,
    fork_gen: u64,
}

impl KernelQueue {
    pub fn ring(&self) -> &MmapRaw {
        &self.ring
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.file.as_raw_fd()
    }

    pub fn doorbell(&self) -> io::Result<u32> {
        sys::doorbell(self.file.as_fd())
    }

    pub fn poll(&self, timeout_ms: i32) -> io::Result<bool> {
        sys::poll_readable(self.file.as_fd(), timeout_ms)
    }

    /// A bounce buffer of at least `len` bytes (buffer mode), grown on demand.
    pub fn bounce(&mut self, len: usize) -> io::Result<&Bounce> {
        let len = len.max(1);
        if self.bounce.as_ref().is_some_and(|b| b.size >= len) {
            return Ok(self.bounce.as_ref().unwrap());
        }
        self.free_bounce();
        let want = len.next_power_of_two().max(64 << 10) as u64;
        let created = sys::create_buffer(self.file.as_fd(), want)?;
        let map = sys::map_device(&self.file, created.mmap_offset, created.size as usize);
        let map = match map {
            Ok(m) => m,
            Err(e) => {
                let _ = sys::free_buffer(self.file.as_fd(), created.handle);
                return Err(e);
            }
        };
        self.bounce = Some(Bounce {
            map: Some(map),
            handle: created.handle,
            size: created.size as usize,
        });
        Ok(self.bounce.as_ref().unwrap())
    }

    pub fn current_bounce(&self) -> Option<&Bounce> {
        self.bounce.as_ref()
    }

    fn free_bounce(&mut self) {
        if let Some(mut b) = self.bounce.take() {
            // The module refuses to free a mapped buffer: unmap first.
            drop(b.map.take());
            let _ = sys::free_buffer(self.file.as_fd(), b.handle);
        }
    }
}

impl Drop for KernelQueue {
    fn drop(&mut self) {
        if crate::device::forked_since(self.fork_gen) {
            // A fork child: the ring and buffer mappings are VM_DONTCOPY, so
            // these addresses are not ours any more (munmap could hit
            // something mapped there since), and the buffers belong to the
            // parent's context, which the shared file still is. Leave both;
            // closing our copy of the descriptor is all that is ours.
            if let Some(mut b) = self.bounce.take() {
                std::mem::forget(b.map.take());
            }
            return;
        }
        self.free_bounce();
        // SAFETY: dropped once, here, and never used again.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.ring) };
    }
}
