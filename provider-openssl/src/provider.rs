//! Provider object: `OSSL_provider_init`, the upcalls captured from the core, error raising,
//! configuration from the provider's config section, the algorithm tables offered per
//! operation, provider parameters and teardown.

use crate::boundary::{PResult, ProvError, Reason};
use crate::ffi::{
    self, cstr, StaticTable, OSSL_ALGORITHM, OSSL_CORE_HANDLE, OSSL_DISPATCH, OSSL_ITEM, OSSL_PARAM,
};
use crate::params::{p_end, p_int, p_utf8, p_utf8_ptr, ParamsOut};
use crate::{backend, stats};
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr;
use std::sync::{Mutex, OnceLock};

/// Property string every algorithm is registered with.
pub const PROPS: &[u8] = b"provider=warpdrive\0";

/// Upcalls captured from the core's dispatch table at init.
#[derive(Clone, Copy)]
struct Upcalls {
    new_error: ffi::OSSL_FUNC_core_new_error_fn,
    set_error_debug: ffi::OSSL_FUNC_core_set_error_debug_fn,
    vset_error: ffi::OSSL_FUNC_core_vset_error_fn,
    get_params: ffi::OSSL_FUNC_core_get_params_fn,
}

static UPCALLS: OnceLock<Upcalls> = OnceLock::new();
/// Live core handles (one per library context that loaded us); errors go to the newest.
static HANDLES: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn current_handle() -> *const OSSL_CORE_HANDLE {
    let h = HANDLES.lock().unwrap_or_else(|e| e.into_inner());
    h.last().copied().unwrap_or(0) as *const OSSL_CORE_HANDLE
}

/// Raises `e` on the calling thread's OpenSSL error queue through the core's upcalls.
pub fn raise(e: &ProvError) {
    if e.reason == Reason::Reported {
        return; // the default provider's implementation raised it already
    }
    stats::bump(&stats::P.errors, 1);
    let Some(up) = UPCALLS.get() else { return };
    let handle = current_handle();
    if handle.is_null() {
        return;
    }
    let msg = CString::new(e.detail.replace('%', "%%").replace('\0', "")).unwrap_or_default();
    // A va_list that is never read: the format has no conversions (every '%' is escaped),
    // so vsnprintf inside the core never touches it.
    let mut va: ffi::__va_list_tag = Default::default();
    if let Some(f) = up.new_error {
        // SAFETY: `handle` is a live core handle (registered at init, removed at teardown).
        unsafe { f(handle) };
    }
    if let Some(f) = up.set_error_debug {
        // SAFETY: live handle; `file` and the function name are NUL-terminated statics.
        unsafe {
            f(
                handle,
                e.file.as_ptr().cast(),
                e.line as c_int,
                cstr(b"warpdrive\0"),
            )
        };
    }
    if let Some(f) = up.vset_error {
        let fmt = if e.detail.is_empty() {
            ptr::null()
        } else {
            msg.as_ptr()
        };
        // SAFETY: live handle; `fmt` is NULL or a NUL-terminated string without conversion
        // specifiers, so the (zeroed, valid-to-pass) va_list is never read.
        unsafe { f(handle, e.reason as u32, fmt, &mut va) };
    }
}

/// Settings read from the provider's section of the OpenSSL configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `inline_max`: requests up to this many bytes run inline in software.
    pub inline_max: Option<usize>,
    /// `algorithms`: comma-separated names or families to offer (default: all).
    pub algorithms: Option<Vec<String>>,
    /// `backend`: auto | kernel | softdev | inline (device choice).
    pub backend: Option<String>,
    /// `device`: a particular kernel device under /dev/warpdrive.
    pub device: Option<String>,
    /// `stats_file`: append the counters as a JSON line here at teardown.
    pub stats_file: Option<String>,
}

impl Config {
    fn read(handle: *const OSSL_CORE_HANDLE) -> PResult<Config> {
        let Some(get) = UPCALLS.get().and_then(|u| u.get_params) else {
            return Ok(Config::default());
        };
        let keys: [&[u8]; 5] = [
            b"inline_max\0",
            b"algorithms\0",
            b"backend\0",
            b"stats_file\0",
            b"device\0",
        ];
        let mut vals: [*mut c_char; 5] = [ptr::null_mut(); 5];
        let mut req: Vec<OSSL_PARAM> = keys
            .iter()
            .zip(vals.iter_mut())
            .map(|(k, v)| OSSL_PARAM {
                key: cstr(k),
                data_type: ffi::OSSL_PARAM_UTF8_PTR,
                data: (v as *mut *mut c_char).cast(),
                data_size: size_of::<*mut c_char>(),
                return_size: ffi::OSSL_PARAM_UNMODIFIED,
            })
            .collect();
        req.push(p_end());
        // SAFETY: `handle` is the core handle passed to init; `req` is a terminated array
        // whose entries point at live locals.
        if unsafe { get(handle, req.as_mut_ptr()) } != 1 {
            return Ok(Config::default());
        }
        let text = |i: usize| -> Option<String> {
            if req[i].return_size == ffi::OSSL_PARAM_UNMODIFIED || vals[i].is_null() {
                return None;
            }
            // SAFETY: the core returned a pointer to its NUL-terminated copy of the value,
            // valid while the provider is loaded.
            Some(
                unsafe { std::ffi::CStr::from_ptr(vals[i]) }
                    .to_string_lossy()
                    .trim()
                    .to_owned(),
            )
        };
        let mut c = Config::default();
        if let Some(v) = text(0) {
            c.inline_max = Some(
                parse_size(&v).ok_or_else(|| crate::prov_err!(InvalidParam, "inline_max = {v}"))?,
            );
        }
        c.algorithms = text(1).map(|v| {
            v.split([',', ' ', ':'])
                .filter(|s| !s.is_empty())
                .map(|s| s.to_ascii_uppercase())
                .collect()
        });
        c.backend = text(2);
        c.stats_file = text(3);
        c.device = text(4);
        Ok(c)
    }

    /// Whether an algorithm (its names and family) passes the `algorithms` filter.
    pub fn offers(&self, names: &[u8], family: &str) -> bool {
        let Some(list) = &self.algorithms else {
            return true;
        };
        let names = std::str::from_utf8(names.strip_suffix(b"\0").unwrap_or(names)).unwrap_or("");
        list.iter().any(|want| {
            want == "ALL"
                || want.eq_ignore_ascii_case(family)
                || family.split('/').any(|f| want.eq_ignore_ascii_case(f))
                || names.split(':').any(|n| n.eq_ignore_ascii_case(want))
        })
    }
}

fn parse_size(v: &str) -> Option<usize> {
    let v = v.trim();
    let (num, mul) = match v.char_indices().last()? {
        (i, 'k' | 'K') => (&v[..i], 1024),
        (i, 'm' | 'M') => (&v[..i], 1024 * 1024),
        _ => (v, 1),
    };
    num.trim().parse::<usize>().ok()?.checked_mul(mul)
}

/// One algorithm implementation this crate can offer.
pub struct AlgDef {
    /// OpenSSL names, colon separated, NUL terminated.
    pub names: &'static [u8],
    /// Description, NUL terminated.
    pub description: &'static [u8],
    /// The implementation's dispatch table.
    pub dispatch: *const OSSL_DISPATCH,
    /// Family tokens for the `algorithms` filter ("AES-GCM/AES", "SHA2", ...).
    pub family: &'static str,
    /// What the core needs to run it (for the capability check).
    pub needs: backend::Capability,
}

/// The provider context handed to every `newctx`.
pub struct ProvCtx {
    handle: *const OSSL_CORE_HANDLE,
    /// Configuration in force.
    pub config: Config,
    digests: Vec<OSSL_ALGORITHM>,
    ciphers: Vec<OSSL_ALGORITHM>,
    macs: Vec<OSSL_ALGORITHM>,
}

fn table(defs: Vec<AlgDef>, cfg: &Config) -> Vec<OSSL_ALGORITHM> {
    let mut v: Vec<OSSL_ALGORITHM> = defs
        .into_iter()
        .filter(|d| cfg.offers(d.names, d.family) && backend::supports(d.needs))
        .map(|d| OSSL_ALGORITHM {
            algorithm_names: cstr(d.names),
            property_definition: cstr(PROPS),
            implementation: d.dispatch,
            algorithm_description: cstr(d.description),
        })
        .collect();
    v.push(OSSL_ALGORITHM {
        algorithm_names: ptr::null(),
        property_definition: ptr::null(),
        implementation: ptr::null(),
        algorithm_description: ptr::null(),
    });
    v
}

static PROV_GETTABLE: StaticTable<OSSL_PARAM, 6> = StaticTable([
    p_utf8_ptr(ffi::OSSL_PROV_PARAM_NAME),
    p_utf8_ptr(ffi::OSSL_PROV_PARAM_VERSION),
    p_utf8_ptr(ffi::OSSL_PROV_PARAM_BUILDINFO),
    p_int(ffi::OSSL_PROV_PARAM_STATUS),
    p_utf8(STATS_PARAM),
    p_end(),
]);

/// Provider parameter returning the counters as JSON (provider's and core's).
pub const STATS_PARAM: &[u8] = b"warpdrive-stats\0";

unsafe extern "C" fn prov_gettable_params(_provctx: *mut c_void) -> *const OSSL_PARAM {
    PROV_GETTABLE.as_ptr()
}

unsafe extern "C" fn prov_get_params(_provctx: *mut c_void, params: *mut OSSL_PARAM) -> c_int {
    crate::ffi_entry!(0, {
        // SAFETY: OpenSSL passes a valid, terminated, writable array.
        let out = unsafe { ParamsOut::new(params) };
        out.utf8_static(ffi::OSSL_PROV_PARAM_NAME, b"WarpDrive Provider\0")?;
        out.utf8_static(
            ffi::OSSL_PROV_PARAM_VERSION,
            concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
        )?;
        out.utf8_static(
            ffi::OSSL_PROV_PARAM_BUILDINFO,
            concat!(
                "warpdrive-openssl-provider ",
                env!("CARGO_PKG_VERSION"),
                "\0"
            )
            .as_bytes(),
        )?;
        out.int(ffi::OSSL_PROV_PARAM_STATUS, 1)?;
        if out.wants(STATS_PARAM) {
            out.utf8(STATS_PARAM, &stats::json())?;
        }
        Ok(1)
    })
}

unsafe extern "C" fn prov_query_operation(
    provctx: *mut c_void,
    operation_id: c_int,
    no_cache: *mut c_int,
) -> *const OSSL_ALGORITHM {
    crate::ffi_entry!(ptr::null(), {
        if !no_cache.is_null() {
            // SAFETY: OpenSSL passes a valid out pointer.
            unsafe { *no_cache = 0 };
        }
        // SAFETY: `provctx` is the ProvCtx this provider returned from init.
        let pc = unsafe { &*(provctx as *const ProvCtx) };
        let t = match operation_id as u32 {
            ffi::OSSL_OP_DIGEST => &pc.digests,
            ffi::OSSL_OP_CIPHER => &pc.ciphers,
            ffi::OSSL_OP_MAC => &pc.macs,
            _ => return Ok(ptr::null()),
        };
        Ok(if t.len() > 1 { t.as_ptr() } else { ptr::null() })
    })
}

struct ReasonTable([OSSL_ITEM; Reason::ALL.len() + 1]);
// SAFETY: immutable after construction; pointers are to static strings.
unsafe impl Sync for ReasonTable {}
// SAFETY: as above.
unsafe impl Send for ReasonTable {}

unsafe extern "C" fn prov_get_reason_strings(_provctx: *mut c_void) -> *const OSSL_ITEM {
    static T: OnceLock<ReasonTable> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = [OSSL_ITEM {
            id: 0,
            ptr: ptr::null_mut(),
        }; Reason::ALL.len() + 1];
        for (slot, r) in t.iter_mut().zip(Reason::ALL) {
            *slot = OSSL_ITEM {
                id: r as u32,
                ptr: r.text().as_ptr() as *mut c_void,
            };
        }
        ReasonTable(t)
    })
    .0
    .as_ptr()
}

unsafe extern "C" fn prov_teardown(provctx: *mut c_void) {
    crate::ffi_entry!((), {
        if provctx.is_null() {
            return Ok(());
        }
        // SAFETY: `provctx` was created by `Box::into_raw` in init and OpenSSL calls
        // teardown exactly once, after which it never uses the pointer again.
        let pc = unsafe { Box::from_raw(provctx as *mut ProvCtx) };
        let file = pc
            .config
            .stats_file
            .clone()
            .or_else(|| warpdrive::settings::raw("WARPDRIVE_PROVIDER_STATS"));
        if let Some(path) = file.filter(|p| !p.is_empty()) {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            {
                // One write(2) with O_APPEND: lines from forked processes
                // tearing down at once never interleave (writeln! wrote the
                // line and its newline separately).
                let _ = f.write_all(format!("{}\n", stats::json()).as_bytes());
            }
        }
        let mut h = HANDLES.lock().unwrap_or_else(|e| e.into_inner());
        h.retain(|&x| x != pc.handle as usize);
        let last = h.is_empty();
        drop(h);
        if last {
            backend::shutdown();
        }
        Ok(())
    })
}

crate::dispatch_table!(static PROVIDER_DISPATCH = {
    OSSL_FUNC_PROVIDER_TEARDOWN: OSSL_FUNC_provider_teardown_fn = prov_teardown,
    OSSL_FUNC_PROVIDER_GETTABLE_PARAMS: OSSL_FUNC_provider_gettable_params_fn = prov_gettable_params,
    OSSL_FUNC_PROVIDER_GET_PARAMS: OSSL_FUNC_provider_get_params_fn = prov_get_params,
    OSSL_FUNC_PROVIDER_QUERY_OPERATION: OSSL_FUNC_provider_query_operation_fn = prov_query_operation,
    OSSL_FUNC_PROVIDER_GET_REASON_STRINGS: OSSL_FUNC_provider_get_reason_strings_fn = prov_get_reason_strings,
});

/// Implementation of `OSSL_provider_init` (the exported symbol lives in lib.rs).
///
/// # Safety
/// Called by OpenSSL with a valid handle, a terminated dispatch table and valid out pointers.
pub unsafe fn init(
    handle: *const OSSL_CORE_HANDLE,
    core_in: *const OSSL_DISPATCH,
    out: *mut *const OSSL_DISPATCH,
    provctx: *mut *mut c_void,
) -> PResult<c_int> {
    let mut up = Upcalls {
        new_error: None,
        set_error_debug: None,
        vset_error: None,
        get_params: None,
    };
    let mut p = core_in;
    while !p.is_null() {
        // SAFETY: `core_in` is a table terminated by a zero function id.
        let d = unsafe { &*p };
        if d.function_id == 0 {
            break;
        }
        // SAFETY: (all four transmutes) core_dispatch.h fixes the type of the function
        // behind each id; we transmute back to exactly that type.
        unsafe {
            match d.function_id as u32 {
                ffi::OSSL_FUNC_CORE_NEW_ERROR => {
                    up.new_error = std::mem::transmute::<
                        Option<unsafe extern "C" fn()>,
                        ffi::OSSL_FUNC_core_new_error_fn,
                    >(d.function)
                }
                ffi::OSSL_FUNC_CORE_SET_ERROR_DEBUG => {
                    up.set_error_debug = std::mem::transmute::<
                        Option<unsafe extern "C" fn()>,
                        ffi::OSSL_FUNC_core_set_error_debug_fn,
                    >(d.function)
                }
                ffi::OSSL_FUNC_CORE_VSET_ERROR => {
                    up.vset_error = std::mem::transmute::<
                        Option<unsafe extern "C" fn()>,
                        ffi::OSSL_FUNC_core_vset_error_fn,
                    >(d.function)
                }
                ffi::OSSL_FUNC_CORE_GET_PARAMS => {
                    up.get_params = std::mem::transmute::<
                        Option<unsafe extern "C" fn()>,
                        ffi::OSSL_FUNC_core_get_params_fn,
                    >(d.function)
                }
                _ => {}
            }
        }
        // SAFETY: still within the terminated table.
        p = unsafe { p.add(1) };
    }
    let _ = UPCALLS.set(up);
    HANDLES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(handle as usize);

    let config = Config::read(handle)?;
    // Nothing here may call into libcrypto's initialisation: init can run while the
    // config file is being loaded. The core itself starts lazily on first use.
    // The environment and /etc/warpdrive.conf, now: the program may clear
    // its environment before the first request.
    warpdrive::settings::capture();
    warpdrive::live::register("provider", crate::stats::live_members);
    backend::configure(&config);
    let pc = Box::new(ProvCtx {
        handle,
        digests: table(crate::digest::algorithms(), &config),
        ciphers: table(crate::cipher::algorithms(), &config),
        macs: table(crate::mac::algorithms(), &config),
        config,
    });
    // SAFETY: valid out pointers per the function contract.
    unsafe {
        *out = PROVIDER_DISPATCH.as_ptr();
        *provctx = Box::into_raw(pc).cast();
    }
    Ok(1)
}
