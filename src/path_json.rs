//! File paths in JSON (manifest, `--json` events), lossless for any name the file system
//! allows: a plain string when the name is valid UTF-8 (almost always), otherwise an object
//! with a readable form and the raw bytes, e.g.
//! `{"lossy": "caf\u{FFFD}.jpg", "bytes_hex": "636166e92e6a7067"}`.
//!
//! Use on a field with `#[serde(with = "crate::path_json")]`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Raw { lossy: String, bytes_hex: String },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The raw bytes of a path (Unix: the bytes; elsewhere: UTF-16 code units, little endian).
fn raw_bytes(p: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        p.as_os_str().as_bytes().to_vec()
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStrExt;
        p.as_os_str()
            .encode_wide()
            .flat_map(u16::to_le_bytes)
            .collect()
    }
}

fn from_raw(bytes: Vec<u8>) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        PathBuf::from(std::ffi::OsString::from_vec(bytes))
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStringExt;
        let wide: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        PathBuf::from(std::ffi::OsString::from_wide(&wide))
    }
}

/// Serialize a path (see the module docs).
pub fn serialize<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    match p.to_str() {
        Some(text) => Repr::Text(text.to_string()),
        None => Repr::Raw {
            lossy: p.to_string_lossy().into_owned(),
            bytes_hex: hex(&raw_bytes(p)),
        },
    }
    .serialize(s)
}

/// Deserialize a path written by [`serialize`].
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    match Repr::deserialize(d)? {
        Repr::Text(t) => Ok(PathBuf::from(t)),
        Repr::Raw { bytes_hex, .. } => unhex(&bytes_hex)
            .map(from_raw)
            .ok_or_else(|| serde::de::Error::custom("bytes_hex is not hexadecimal")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Rec {
        #[serde(with = "super")]
        p: PathBuf,
    }

    #[test]
    fn unicode_names_stay_plain_strings_and_round_trip() {
        let r = Rec {
            p: PathBuf::from("fotos/Zoë — 東京 🌸.jpg"),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"p":"fotos/Zoë — 東京 🌸.jpg"}"#);
        assert_eq!(serde_json::from_str::<Rec>(&json).unwrap(), r);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_keep_their_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let raw = b"caf\xe9.jpg";
        let r = Rec {
            p: PathBuf::from(std::ffi::OsStr::from_bytes(raw)),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"p":{"lossy":"caf\ufffd.jpg","bytes_hex":"636166e92e6a7067"}}"#
                .replace("\\ufffd", "\u{FFFD}")
        );
        assert_eq!(serde_json::from_str::<Rec>(&json).unwrap(), r);
        assert!(serde_json::from_str::<Rec>(r#"{"p":{"lossy":"x","bytes_hex":"6"}}"#).is_err());
    }
}
