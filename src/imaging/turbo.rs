//! JPEG decoding through the system's libjpeg-turbo (loaded at run time when installed), so
//! that our pixels are the ones browsers, Pillow and most viewers show for the same file, and
//! the ε bound holds against them. Without the library, JPEGs are decoded by the built-in
//! decoder (zune-jpeg), which differs from libjpeg-turbo by a few levels on some pixels
//! (README, "JPEG decoding").
//!
//! Uses the TurboJPEG 2 API (`tjDecompress2`, default flags: accurate integer IDCT and
//! "fancy" upsampling, as libjpeg-turbo's own defaults), which TurboJPEG 3 still exports.

use std::ffi::{CStr, c_char, c_int, c_ulong, c_void};
use std::sync::OnceLock;

use image::RgbImage;

type Handle = *mut c_void;

struct Api {
    init: unsafe extern "C" fn() -> Handle,
    header: unsafe extern "C" fn(
        Handle,
        *const u8,
        c_ulong,
        *mut c_int,
        *mut c_int,
        *mut c_int,
        *mut c_int,
    ) -> c_int,
    decompress: unsafe extern "C" fn(
        Handle,
        *const u8,
        c_ulong,
        *mut u8,
        c_int,
        c_int,
        c_int,
        c_int,
        c_int,
    ) -> c_int,
    error: unsafe extern "C" fn(Handle) -> *mut c_char,
    error_code: unsafe extern "C" fn(Handle) -> c_int,
    destroy: unsafe extern "C" fn(Handle) -> c_int,
    /// Keeps the symbols above valid.
    _lib: libloading::Library,
}

/// TurboJPEG's `TJPF_RGB`.
const TJPF_RGB: c_int = 0;

const LIBRARY_NAMES: &[&str] = &[
    "libturbojpeg.so.0",
    "libturbojpeg.so",
    "libturbojpeg.0.dylib",
    "libturbojpeg.dylib",
    "turbojpeg.dll",
];

fn load() -> Option<Api> {
    if std::env::var_os("UNLEARNABLE_NO_TURBOJPEG").is_some() {
        return None;
    }
    LIBRARY_NAMES.iter().find_map(|name| {
        // SAFETY: loading libjpeg-turbo runs no initialisation code with preconditions; the
        // symbols are looked up with their documented C signatures.
        unsafe {
            let lib = libloading::Library::new(name).ok()?;
            Some(Api {
                init: *lib.get(b"tjInitDecompress\0").ok()?,
                header: *lib.get(b"tjDecompressHeader3\0").ok()?,
                decompress: *lib.get(b"tjDecompress2\0").ok()?,
                error: *lib.get(b"tjGetErrorStr2\0").ok()?,
                error_code: *lib.get(b"tjGetErrorCode\0").ok()?,
                destroy: *lib.get(b"tjDestroy\0").ok()?,
                _lib: lib,
            })
        }
    })
}

fn api() -> Option<&'static Api> {
    static API: OnceLock<Option<Api>> = OnceLock::new();
    API.get_or_init(load).as_ref()
}

/// Which JPEG decoder this process uses, in words (recorded in the manifest).
pub fn decoder_name() -> &'static str {
    if api().is_some() {
        "libjpeg-turbo (system library)"
    } else {
        "zune-jpeg (built in; libjpeg-turbo not found)"
    }
}

/// A TurboJPEG decompressor, destroyed on drop.
struct Decompressor<'a>(&'a Api, Handle);

impl Drop for Decompressor<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from `tjInitDecompress` and is destroyed once.
        unsafe { (self.0.destroy)(self.1) };
    }
}

impl Decompressor<'_> {
    fn last_error(&self) -> String {
        // SAFETY: TurboJPEG returns a NUL-terminated string owned by the handle.
        unsafe {
            let p = (self.0.error)(self.1);
            if p.is_null() {
                "unknown libjpeg-turbo error".into()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        }
    }
}

/// Decode `jpeg` to 8-bit RGB with libjpeg-turbo. `None` when the library is not installed
/// or cannot convert this file to RGB (e.g. CMYK): the caller then uses the built-in decoder.
/// `Some(Err)` when the file is damaged. `max_pixels` bounds the allocation.
pub fn decode_rgb(jpeg: &[u8], max_pixels: u64) -> Option<Result<RgbImage, String>> {
    let api = api()?;
    // SAFETY: FFI calls with a live handle, a buffer and its exact length, and an output
    // buffer of exactly width × height × 3 bytes with that pitch.
    unsafe {
        let handle = (api.init)();
        if handle.is_null() {
            return None;
        }
        let d = Decompressor(api, handle);
        let (mut w, mut h, mut sub, mut space) = (0, 0, 0, 0);
        let len = c_ulong::try_from(jpeg.len()).ok()?;
        if (api.header)(
            handle,
            jpeg.as_ptr(),
            len,
            &mut w,
            &mut h,
            &mut sub,
            &mut space,
        ) != 0
        {
            return Some(Err(d.last_error()));
        }
        let (wu, hu) = (u32::try_from(w).ok()?, u32::try_from(h).ok()?);
        if wu == 0 || hu == 0 || u64::from(wu) * u64::from(hu) > max_pixels {
            return None;
        }
        let mut out = vec![0u8; wu as usize * hu as usize * 3];
        let rc = (api.decompress)(
            handle,
            jpeg.as_ptr(),
            len,
            out.as_mut_ptr(),
            w,
            w * 3,
            h,
            TJPF_RGB,
            0,
        );
        // A warning (`TJERR_WARNING` = 0) still decoded the whole image.
        if rc != 0 && (api.error_code)(handle) != 0 {
            let msg = d.last_error();
            // Colour conversions TurboJPEG cannot do are left to the built-in decoder.
            if msg.contains("Unsupported color conversion") || msg.contains("colorspace") {
                return None;
            }
            return Some(Err(msg));
        }
        RgbImage::from_raw(wu, hu, out).map(Ok)
    }
}
