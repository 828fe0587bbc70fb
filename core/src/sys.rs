//! Every system call the core makes: ioctls on the device, mmaps of rings and
//! buffers, futexes and poll. Nothing outside this module calls into libc.
//!
//! The common SAFETY argument for the ioctls: each passes a pointer to a live,
//! properly sized `#[repr(C)]` value whose layout is pinned against the uapi
//! header (see `uapi`), and the request number encodes that same size, so the
//! kernel reads and writes exactly that object and nothing else.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};

use crate::uapi::{
    WdBufferCreate, WdBufferFree, WdDeviceInfo, WdQueueBind, WD_IOCTL_BIND_QUEUE,
    WD_IOCTL_CREATE_BUFFER, WD_IOCTL_DOORBELL, WD_IOCTL_FREE_BUFFER, WD_IOCTL_INFO,
};

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `ioctl(fd, request, arg)` retried on EINTR.
///
/// # Safety
/// `arg` must be what `request` expects: null for `_IO` requests, or a pointer
/// to a live object of the size encoded in `request`.
unsafe fn ioctl_raw(fd: BorrowedFd<'_>, request: u32, arg: *mut libc::c_void) -> io::Result<i32> {
    loop {
        // SAFETY: forwarded from the caller's contract.
        let ret = unsafe { libc::ioctl(fd.as_raw_fd(), request as libc::c_ulong, arg) };
        match check(ret) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

pub fn device_info(fd: BorrowedFd<'_>) -> io::Result<WdDeviceInfo> {
    let mut info = WdDeviceInfo::default();
    // SAFETY: see the module comment; `info` is a WdDeviceInfo.
    unsafe { ioctl_raw(fd, WD_IOCTL_INFO, (&mut info as *mut WdDeviceInfo).cast())? };
    Ok(info)
}

pub fn bind_queue(fd: BorrowedFd<'_>, bind: &mut WdQueueBind) -> io::Result<()> {
    // SAFETY: see the module comment; `bind` is a WdQueueBind.
    unsafe { ioctl_raw(fd, WD_IOCTL_BIND_QUEUE, (bind as *mut WdQueueBind).cast())? };
    Ok(())
}

pub fn create_buffer(fd: BorrowedFd<'_>, size: u64) -> io::Result<WdBufferCreate> {
    let mut req = WdBufferCreate {
        size,
        ..Default::default()
    };
    // SAFETY: see the module comment; `req` is a WdBufferCreate.
    unsafe {
        ioctl_raw(
            fd,
            WD_IOCTL_CREATE_BUFFER,
            (&mut req as *mut WdBufferCreate).cast(),
        )?
    };
    Ok(req)
}

pub fn free_buffer(fd: BorrowedFd<'_>, handle: u32) -> io::Result<()> {
    let mut req = WdBufferFree { handle, resv: 0 };
    // SAFETY: see the module comment; `req` is a WdBufferFree.
    unsafe {
        ioctl_raw(
            fd,
            WD_IOCTL_FREE_BUFFER,
            (&mut req as *mut WdBufferFree).cast(),
        )?
    };
    Ok(())
}

/// Wakes the engine; returns how many descriptors it took.
pub fn doorbell(fd: BorrowedFd<'_>) -> io::Result<u32> {
    // SAFETY: an _IO request takes no argument.
    let n = unsafe { ioctl_raw(fd, WD_IOCTL_DOORBELL, std::ptr::null_mut())? };
    Ok(n as u32)
}

/// Maps `len` bytes of the device file at `offset` (a ring or a buffer).
pub fn map_device(file: &File, offset: u64, len: usize) -> io::Result<MmapRaw> {
    MmapOptions::new().offset(offset).len(len).map_raw(file)
}

/// Anonymous shared memory for the software device's rings and buffers.
pub fn map_anonymous(len: usize) -> io::Result<MmapRaw> {
    Ok(MmapRaw::from(MmapOptions::new().len(len).map_anon()?))
}

/// Sleeps while `*word == expected`, at most `timeout`. Spurious returns are
/// fine: callers re-check their condition.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned u32 for the duration of the call; the
    // kernel only reads it. FUTEX_WAIT with a relative timeout pointer or null.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes every thread sleeping on `word`. `word` may live in shared memory.
pub fn futex_wake_all(word: *const AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses the address as a key; it never dereferences
    // memory that is not mapped (it returns EFAULT instead).
    unsafe {
        libc::syscall(libc::SYS_futex, word, libc::FUTEX_WAKE, i32::MAX);
    }
}

/// Waits until `fd` is readable or `timeout_ms` passes (-1 forever).
pub fn poll_readable(fd: BorrowedFd<'_>, timeout_ms: i32) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    match check(n) {
        Ok(n) => Ok(n > 0 && pfd.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs `f` when the process exits normally (not on `_exit`).
pub fn at_exit(f: extern "C" fn()) {
    // SAFETY: registering a plain function pointer; atexit copies it.
    unsafe { libc::atexit(f) };
}

/// Runs `f` in the child after every fork().
pub fn at_fork_child(f: unsafe extern "C" fn()) {
    // SAFETY: registering a plain function pointer with no prepare/parent hooks.
    unsafe { libc::pthread_atfork(None, None, Some(f)) };
}

/// A non-blocking eventfd, for waking pollers of the software device.
pub fn eventfd() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: eventfd has no memory effects; a non-negative result is a new
    // descriptor that nothing else owns.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
    // SAFETY: just created, owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter (it becomes readable).
pub fn eventfd_signal(fd: BorrowedFd<'_>) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64, as eventfd requires.
    unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

/// Resets an eventfd's counter (it stops being readable).
pub fn eventfd_drain(fd: BorrowedFd<'_>) {
    let mut v: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64; EAGAIN when already zero.
    unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
}

pub fn getuid() -> u32 {
    // SAFETY: getuid has no memory effects and cannot fail.
    unsafe { libc::getuid() }
}

pub fn geteuid() -> u32 {
    // SAFETY: geteuid has no memory effects and cannot fail.
    unsafe { libc::geteuid() }
}

pub fn getpid() -> u32 {
    std::process::id()
}

pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uapi::*;

    /// The numbers the kernel module compiles from the header with _IOWR etc.
    #[test]
    fn ioctl_numbers_are_pinned() {
        assert_eq!(WD_IOCTL_INFO, 0x8080_D700);
        assert_eq!(WD_IOCTL_BIND_QUEUE, 0xC080_D701);
        assert_eq!(WD_IOCTL_CREATE_BUFFER, 0xC028_D702);
        assert_eq!(WD_IOCTL_FREE_BUFFER, 0x4008_D703);
        assert_eq!(WD_IOCTL_DOORBELL, 0x0000_D704);
        assert_eq!(WD_IOCTL_SUBMIT_SYNC, 0x0000_D705);
    }

    #[test]
    fn ioctl_on_a_non_device_fails_cleanly() {
        let f = File::open("/dev/null").unwrap();
        use std::os::fd::AsFd;
        let err = device_info(f.as_fd()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY));
    }
}
