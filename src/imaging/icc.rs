//! ICC colour profiles: just enough parsing to name one (its `desc` tag), so the manifest can
//! say which colour space a photo was protected in. Profiles themselves are carried byte for
//! byte (see [`crate::imaging::Carried`]).

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The profile's description (`desc` tag, ICC v2 `desc` or v4 `mluc` type), e.g.
/// `"Display P3"`; `None` when the profile has none or is malformed.
pub fn description(profile: &[u8]) -> Option<String> {
    let count = be_u32(profile, 128)? as usize;
    let (offset, size) = (0..count.min(1024)).find_map(|i| {
        let entry = 132 + 12 * i;
        (profile.get(entry..entry + 4)? == b"desc").then(|| {
            Some((
                be_u32(profile, entry + 4)? as usize,
                be_u32(profile, entry + 8)? as usize,
            ))
        })?
    })?;
    let tag = profile.get(offset..offset.checked_add(size)?)?;
    let text = match tag.get(0..4)? {
        b"desc" => {
            let n = be_u32(tag, 8)? as usize;
            let ascii = tag.get(12..12 + n)?;
            String::from_utf8_lossy(ascii)
                .trim_end_matches('\0')
                .to_string()
        }
        b"mluc" => {
            let records = be_u32(tag, 8)?;
            if records == 0 {
                return None;
            }
            // The first record (usually en-US) is enough for a label.
            let len = be_u32(tag, 20)? as usize;
            let at = be_u32(tag, 24)? as usize;
            let units: Vec<u16> = tag
                .get(at..at.checked_add(len)?)?
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
                .trim_end_matches('\0')
                .to_string()
        }
        _ => return None,
    };
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// A minimal ICC v4 profile whose `desc` tag reads `name` (header + one `mluc` tag): enough
/// for tests of carrying and naming profiles.
pub fn minimal_profile(name: &str) -> Vec<u8> {
    let text: Vec<u8> = name.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let mut tag = Vec::new();
    tag.extend_from_slice(b"mluc\0\0\0\0");
    tag.extend_from_slice(&1u32.to_be_bytes()); // records
    tag.extend_from_slice(&12u32.to_be_bytes()); // record size
    tag.extend_from_slice(b"enUS");
    tag.extend_from_slice(&(text.len() as u32).to_be_bytes());
    tag.extend_from_slice(&28u32.to_be_bytes());
    tag.extend_from_slice(&text);
    let tag_offset = 128 + 4 + 12;
    let total = tag_offset + tag.len();
    let mut p = vec![0u8; 128];
    p[0..4].copy_from_slice(&(total as u32).to_be_bytes());
    p[8] = 4; // version 4.0
    p[12..16].copy_from_slice(b"mntr");
    p[16..20].copy_from_slice(b"RGB ");
    p[20..24].copy_from_slice(b"XYZ ");
    p[36..40].copy_from_slice(b"acsp");
    p.extend_from_slice(&1u32.to_be_bytes());
    p.extend_from_slice(b"desc");
    p.extend_from_slice(&(tag_offset as u32).to_be_bytes());
    p.extend_from_slice(&(tag.len() as u32).to_be_bytes());
    p.extend_from_slice(&tag);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_v4_and_v2_profiles_and_rejects_garbage() {
        assert_eq!(
            description(&minimal_profile("Display P3")).as_deref(),
            Some("Display P3")
        );
        // A v2 `desc` tag: type, reserved, ASCII count (with NUL), text.
        let mut v2 = minimal_profile("x");
        v2.truncate(144);
        let mut tag = b"desc\0\0\0\0".to_vec();
        tag.extend_from_slice(&10u32.to_be_bytes());
        tag.extend_from_slice(b"Adobe RGB\0");
        v2[140..144].copy_from_slice(&(tag.len() as u32).to_be_bytes());
        v2.extend_from_slice(&tag);
        assert_eq!(description(&v2).as_deref(), Some("Adobe RGB"));
        assert_eq!(description(b"not a profile"), None);
        let mut broken = minimal_profile("Display P3");
        broken[136..140].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(description(&broken), None);
    }
}
