//! Signals while `warpdrive run` waits for its child, the way `timeout` and
//! `sudo` treat them: the parent never dies of SIGINT, SIGTERM, SIGHUP or
//! SIGQUIT (so it still reports and removes its temporary directory), and a
//! signal sent to the parent alone is passed on to the child.
//!
//! A signal the terminal sent (Ctrl-C, Ctrl-\) already reached the child,
//! which is in the same foreground process group; it is not sent twice.

use std::sync::atomic::{AtomicI32, Ordering};

/// The child's pid while it runs, 0 otherwise. Read by the handler.
static CHILD: AtomicI32 = AtomicI32::new(0);
/// A signal that came before the child's pid was known.
static PENDING: AtomicI32 = AtomicI32::new(0);

const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t with SA_SIGINFO.
    let code = unsafe { (*info).si_code };
    // SI_KERNEL: raised by the terminal driver for the whole foreground
    // group, child included. Anything else (kill(2), SI_USER) was meant for
    // us alone: forward it.
    if code == libc::SI_KERNEL {
        return;
    }
    let child = CHILD.load(Ordering::Acquire);
    if child <= 0 {
        PENDING.store(sig, Ordering::Release);
    } else {
        // SAFETY: kill(2) is async-signal-safe; a stale pid at worst fails
        // with ESRCH, since the child is not reaped until we wait for it.
        unsafe { libc::kill(child, sig) };
    }
}

/// Catches the forwarded signals from now on (before the child is spawned:
/// exec gives the child the default dispositions back). The previous ones
/// are not restored: the process exits after the child.
pub fn catch() {
    for sig in FORWARDED {
        // SAFETY: a zeroed sigaction is valid; the handler only does
        // async-signal-safe work (an atomic load and kill).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// From now on signals go to `child`; one that came early is sent now.
pub fn forward_to(child: u32) {
    CHILD.store(child as i32, Ordering::Release);
    let early = PENDING.swap(0, Ordering::AcqRel);
    if early != 0 {
        // SAFETY: kill(2) on our own child, not reaped yet.
        unsafe { libc::kill(child as i32, early) };
    }
}

/// SIGTERM, SIGKILL, ... for a signal number.
pub fn name(sig: i32) -> String {
    let n = match sig {
        libc::SIGHUP => "HUP",
        libc::SIGINT => "INT",
        libc::SIGQUIT => "QUIT",
        libc::SIGILL => "ILL",
        libc::SIGTRAP => "TRAP",
        libc::SIGABRT => "ABRT",
        libc::SIGBUS => "BUS",
        libc::SIGFPE => "FPE",
        libc::SIGKILL => "KILL",
        libc::SIGUSR1 => "USR1",
        libc::SIGSEGV => "SEGV",
        libc::SIGUSR2 => "USR2",
        libc::SIGPIPE => "PIPE",
        libc::SIGALRM => "ALRM",
        libc::SIGTERM => "TERM",
        libc::SIGXCPU => "XCPU",
        libc::SIGXFSZ => "XFSZ",
        _ => return format!("signal {sig}"),
    };
    format!("SIG{n}")
}
