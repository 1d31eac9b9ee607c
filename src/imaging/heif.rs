//! HEIC/HEIF (the iPhone camera format) and AVIF input through the system's libheif, loaded at
//! run time (Debian/Ubuntu: `libheif1`; macOS: `brew install libheif`). Without it such files
//! get a clear error saying what to install. libheif applies the container's rotation and
//! mirroring while decoding, so the pixels come out upright; the ICC profile is read too.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

use image::{GrayImage, RgbImage};

#[repr(C)]
#[derive(Clone, Copy)]
struct HeifError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

type Ctx = *mut c_void;
type Handle = *mut c_void;
type Img = *mut c_void;

struct Api {
    context_alloc: unsafe extern "C" fn() -> Ctx,
    context_free: unsafe extern "C" fn(Ctx),
    read: unsafe extern "C" fn(Ctx, *const c_void, usize, *const c_void) -> HeifError,
    primary: unsafe extern "C" fn(Ctx, *mut Handle) -> HeifError,
    handle_release: unsafe extern "C" fn(Handle),
    width: unsafe extern "C" fn(Handle) -> c_int,
    height: unsafe extern "C" fn(Handle) -> c_int,
    has_alpha: unsafe extern "C" fn(Handle) -> c_int,
    profile_size: unsafe extern "C" fn(Handle) -> usize,
    profile: unsafe extern "C" fn(Handle, *mut c_void) -> HeifError,
    decode: unsafe extern "C" fn(Handle, *mut Img, c_int, c_int, *const c_void) -> HeifError,
    plane: unsafe extern "C" fn(Img, c_int, *mut c_int) -> *const u8,
    image_width: unsafe extern "C" fn(Img, c_int) -> c_int,
    image_height: unsafe extern "C" fn(Img, c_int) -> c_int,
    image_release: unsafe extern "C" fn(Img),
    _lib: libloading::Library,
}

const COLORSPACE_RGB: c_int = 1;
const CHROMA_RGB: c_int = 10;
const CHROMA_RGBA: c_int = 11;
const CHANNEL_INTERLEAVED: c_int = 10;

const LIBRARY_NAMES: &[&str] = &[
    "libheif.so.1",
    "libheif.so",
    "libheif.1.dylib",
    "libheif.dylib",
    "heif.dll",
    "libheif.dll",
];

fn load() -> Option<Api> {
    LIBRARY_NAMES.iter().find_map(|name| {
        // SAFETY: symbols are looked up with libheif's documented C signatures; `heif_init`
        // (libheif ≥ 1.13, reference counted) loads its decoder plugins.
        unsafe {
            let lib = libloading::Library::new(name).ok()?;
            if let Ok(init) =
                lib.get::<unsafe extern "C" fn(*mut c_void) -> HeifError>(b"heif_init\0")
            {
                init(std::ptr::null_mut());
            }
            Some(Api {
                context_alloc: *lib.get(b"heif_context_alloc\0").ok()?,
                context_free: *lib.get(b"heif_context_free\0").ok()?,
                read: *lib
                    .get(b"heif_context_read_from_memory_without_copy\0")
                    .ok()?,
                primary: *lib.get(b"heif_context_get_primary_image_handle\0").ok()?,
                handle_release: *lib.get(b"heif_image_handle_release\0").ok()?,
                width: *lib.get(b"heif_image_handle_get_width\0").ok()?,
                height: *lib.get(b"heif_image_handle_get_height\0").ok()?,
                has_alpha: *lib.get(b"heif_image_handle_has_alpha_channel\0").ok()?,
                profile_size: *lib
                    .get(b"heif_image_handle_get_raw_color_profile_size\0")
                    .ok()?,
                profile: *lib.get(b"heif_image_handle_get_raw_color_profile\0").ok()?,
                decode: *lib.get(b"heif_decode_image\0").ok()?,
                plane: *lib.get(b"heif_image_get_plane_readonly\0").ok()?,
                image_width: *lib.get(b"heif_image_get_width\0").ok()?,
                image_height: *lib.get(b"heif_image_get_height\0").ok()?,
                image_release: *lib.get(b"heif_image_release\0").ok()?,
                _lib: lib,
            })
        }
    })
}

fn api() -> Option<&'static Api> {
    static API: OnceLock<Option<Api>> = OnceLock::new();
    API.get_or_init(load).as_ref()
}

/// `Some("HEIC")`/`Some("AVIF")`/`Some("HEIF")` when `bytes` start like an ISO-BMFF image
/// file (an `ftyp` box with an image brand).
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.get(4..8)? != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    let brands = bytes.get(8..size.clamp(16, 64).min(bytes.len()))?;
    let has = |b: &[u8]| brands.chunks(4).any(|c| c == b);
    if has(b"avif") || has(b"avis") {
        Some("AVIF")
    } else if has(b"heic") || has(b"heix") || has(b"hevc") || has(b"hevx") || has(b"heim") {
        Some("HEIC")
    } else if has(b"mif1") || has(b"msf1") {
        Some("HEIF")
    } else {
        None
    }
}

/// Whether libheif was found (HEIC/AVIF can be read).
pub fn available() -> bool {
    api().is_some()
}

/// A decoded HEIF/AVIF image.
pub struct Decoded {
    /// Upright RGB.
    pub rgb: RgbImage,
    /// Alpha, when the file has it.
    pub alpha: Option<GrayImage>,
    /// The ICC profile, if any.
    pub icc: Option<Vec<u8>>,
}

/// Why a HEIF file could not be decoded.
pub enum Failure {
    /// libheif is not installed.
    Missing,
    /// Larger than `max_pixels`.
    TooLarge(u32, u32),
    /// The file is damaged or uses something libheif cannot decode.
    Corrupt(String),
}

fn check(e: HeifError) -> Result<(), Failure> {
    if e.code == 0 {
        return Ok(());
    }
    let message = if e.message.is_null() {
        format!("libheif error {}.{}", e.code, e.subcode)
    } else {
        // SAFETY: libheif's error messages are static NUL-terminated strings.
        unsafe { CStr::from_ptr(e.message) }
            .to_string_lossy()
            .into_owned()
    };
    Err(Failure::Corrupt(message))
}

/// Frees what libheif allocated, in reverse order, whatever path the decoding takes.
struct Guard<'a> {
    api: &'a Api,
    ctx: Ctx,
    handle: Handle,
    img: Img,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or owned by us and released once.
        unsafe {
            if !self.img.is_null() {
                (self.api.image_release)(self.img);
            }
            if !self.handle.is_null() {
                (self.api.handle_release)(self.handle);
            }
            if !self.ctx.is_null() {
                (self.api.context_free)(self.ctx);
            }
        }
    }
}

/// Decode the primary image of a HEIF/AVIF file, refusing images over `max_pixels` before
/// decoding them.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Decoded, Failure> {
    let api = api().ok_or(Failure::Missing)?;
    // SAFETY: FFI with libheif's documented contracts: the context reads from `bytes`, which
    // outlives it (the guard frees it at the end of this function); planes are read within
    // their reported width, height and stride.
    unsafe {
        let mut g = Guard {
            api,
            ctx: (api.context_alloc)(),
            handle: std::ptr::null_mut(),
            img: std::ptr::null_mut(),
        };
        if g.ctx.is_null() {
            return Err(Failure::Corrupt(
                "libheif could not allocate a context".into(),
            ));
        }
        check((api.read)(
            g.ctx,
            bytes.as_ptr().cast(),
            bytes.len(),
            std::ptr::null(),
        ))?;
        check((api.primary)(g.ctx, &mut g.handle))?;
        let (w, h) = ((api.width)(g.handle), (api.height)(g.handle));
        let (w, h) = (u32::try_from(w).unwrap_or(0), u32::try_from(h).unwrap_or(0));
        if w == 0 || h == 0 {
            return Err(Failure::Corrupt("the image has no pixels".into()));
        }
        if u64::from(w) * u64::from(h) > max_pixels {
            return Err(Failure::TooLarge(w, h));
        }
        let alpha = (api.has_alpha)(g.handle) != 0;
        let icc = match (api.profile_size)(g.handle) {
            0 => None,
            n => {
                let mut buf = vec![0u8; n];
                check((api.profile)(g.handle, buf.as_mut_ptr().cast()))
                    .ok()
                    .map(|()| buf)
            }
        };
        let chroma = if alpha { CHROMA_RGBA } else { CHROMA_RGB };
        check((api.decode)(
            g.handle,
            &mut g.img,
            COLORSPACE_RGB,
            chroma,
            std::ptr::null(),
        ))?;
        let mut stride = 0;
        let plane = (api.plane)(g.img, CHANNEL_INTERLEAVED, &mut stride);
        let iw = (api.image_width)(g.img, CHANNEL_INTERLEAVED);
        let ih = (api.image_height)(g.img, CHANNEL_INTERLEAVED);
        let (Ok(iw), Ok(ih), Ok(stride)) = (
            u32::try_from(iw),
            u32::try_from(ih),
            usize::try_from(stride),
        ) else {
            return Err(Failure::Corrupt("libheif returned no pixels".into()));
        };
        let bpp = if alpha { 4 } else { 3 };
        if plane.is_null() || iw == 0 || ih == 0 || stride < iw as usize * bpp {
            return Err(Failure::Corrupt("libheif returned no pixels".into()));
        }
        let mut rgb = RgbImage::new(iw, ih);
        let mut a = alpha.then(|| GrayImage::new(iw, ih));
        for y in 0..ih {
            let row = std::slice::from_raw_parts(plane.add(y as usize * stride), iw as usize * bpp);
            for x in 0..iw {
                let p = &row[x as usize * bpp..x as usize * bpp + bpp];
                rgb.put_pixel(x, y, image::Rgb([p[0], p[1], p[2]]));
                if let Some(a) = a.as_mut() {
                    a.put_pixel(x, y, image::Luma([p[3]]));
                }
            }
        }
        Ok(Decoded { rgb, alpha: a, icc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_heic_and_avif_brands_only() {
        let ftyp = |brand: &[u8; 4], compat: &[u8]| {
            let mut b = vec![0, 0, 0, (16 + compat.len()) as u8];
            b.extend_from_slice(b"ftyp");
            b.extend_from_slice(brand);
            b.extend_from_slice(&[0, 0, 0, 0]);
            b.extend_from_slice(compat);
            b.extend_from_slice(&[0; 16]);
            b
        };
        assert_eq!(sniff(&ftyp(b"heic", b"mif1heic")), Some("HEIC"));
        assert_eq!(sniff(&ftyp(b"avif", b"avifmif1")), Some("AVIF"));
        assert_eq!(sniff(&ftyp(b"mif1", b"")), Some("HEIF"));
        assert_eq!(
            sniff(&ftyp(b"isom", b"mp41")),
            None,
            "a video is not a photo"
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), None);
        assert_eq!(sniff(b"ftyp"), None);
    }
}
