//! Turning the user's inputs (folders and files) into an ordered album with class labels.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use crate::error::JobError;

/// File extensions picked up when scanning folders (case-insensitive). Files given one by one
/// are always attempted, whatever their extension.
pub const IMAGE_EXTENSIONS: [&str; 13] = [
    "jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif", "jfif", "heic", "heif", "hif",
    "avif",
];

/// One photo of the album.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlbumEntry {
    /// Position in the album's stable sorted order.
    pub index: usize,
    /// The original file.
    pub path: PathBuf,
    /// Where the output goes relative to the output folder, before its extension is changed.
    pub rel_out: PathBuf,
    /// Class label (index into [`Album::classes`]).
    pub label: usize,
}

/// The photos of one job, in a stable order, with their class labels.
#[derive(Clone, Debug, Default)]
pub struct Album {
    /// All photos, sorted input by input, then by path.
    pub entries: Vec<AlbumEntry>,
    /// Class names in label order. The first-level sub-folder of an input folder is a photo's
    /// class; photos directly inside an input folder take that folder's own name.
    pub classes: Vec<String>,
    /// The input folders (absolute), used to refuse writing into them.
    pub roots: Vec<PathBuf>,
}

/// One part of an album split across machines: photos `i, i + n, i + 2n, …` (0-based `i`)
/// of the album's stable order, so that every part gets a similar mix of groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// This part, 1-based (`1..=count`).
    pub index: u32,
    /// Number of parts.
    pub count: u32,
}

impl Shard {
    /// Whether the album's photo at position `index` (0-based) belongs to this part.
    pub fn contains(&self, index: usize) -> bool {
        index as u64 % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `"i/n"`, e.g. `"2/8"`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("a shard is written i/n with 1 ≤ i ≤ n (e.g. 2/8), got \"{s}\"");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Album {
    /// The part of this album that `shard` selects, re-numbered from 0; groups (class names
    /// and labels) stay those of the whole album, so every part labels photos alike.
    pub fn shard(&self, shard: Shard) -> Album {
        let entries = self
            .entries
            .iter()
            .filter(|e| shard.contains(e.index))
            .enumerate()
            .map(|(index, e)| AlbumEntry { index, ..e.clone() })
            .collect();
        Album {
            entries,
            classes: self.classes.clone(),
            roots: self.roots.clone(),
        }
    }

    /// Number of photos.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no photos.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with('.'))
}

fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "photos".to_string())
}

/// Scan folders (recursively, hidden files skipped, sorted by path) and files into an album.
///
/// With one input folder, outputs mirror its layout directly; with several, each folder's
/// outputs go under a sub-folder named after it, so that equal relative paths cannot collide.
pub fn scan(inputs: &[PathBuf]) -> Result<Album, JobError> {
    if inputs.is_empty() {
        return Err(JobError::NoImages("(no inputs given)".into()));
    }
    let folder_count = inputs.iter().filter(|p| p.is_dir()).count();
    let mut found: Vec<(PathBuf, PathBuf, String)> = Vec::new(); // (path, rel_out, class)
    let mut used_prefixes = HashSet::new();
    let mut roots = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|_| JobError::InputNotFound(input.clone()))?;
        let abs = std::path::absolute(input).map_err(|source| JobError::Scan {
            path: input.clone(),
            source,
        })?;
        if meta.is_dir() {
            roots.push(abs.clone());
            let root_class = folder_name(&abs);
            let prefix = if folder_count > 1 {
                let mut p = root_class.clone();
                let mut n = 2;
                while !used_prefixes.insert(p.clone()) {
                    p = format!("{root_class}_{n}");
                    n += 1;
                }
                PathBuf::from(p)
            } else {
                PathBuf::new()
            };
            let walker = walkdir::WalkDir::new(&abs)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name()));
            for entry in walker {
                let entry = entry.map_err(|e| JobError::Scan {
                    path: e
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| abs.clone()),
                    source: e.into(),
                })?;
                if !entry.file_type().is_file() || !has_image_extension(entry.path()) {
                    continue;
                }
                let rel = entry
                    .path()
                    .strip_prefix(&abs)
                    .unwrap_or(entry.path())
                    .to_path_buf();
                let mut comps = rel.components();
                let class = match (comps.next(), comps.next()) {
                    (Some(first), Some(_)) => first.as_os_str().to_string_lossy().into_owned(),
                    _ => root_class.clone(),
                };
                found.push((entry.path().to_path_buf(), prefix.join(&rel), class));
            }
        } else {
            let class = abs
                .parent()
                .map(folder_name)
                .unwrap_or_else(|| "photos".into());
            let name = abs.file_name().map(PathBuf::from).unwrap_or_default();
            found.push((abs, name, class));
        }
    }
    if found.is_empty() {
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        return Err(JobError::NoImages(names.join(", ")));
    }
    let classes: Vec<String> = found
        .iter()
        .map(|(_, _, c)| c.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let entries = found
        .into_iter()
        .enumerate()
        .map(|(index, (path, rel_out, class))| AlbumEntry {
            index,
            path,
            rel_out,
            label: classes.binary_search(&class).unwrap_or(0),
        })
        .collect();
    Ok(Album {
        entries,
        classes,
        roots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn nested_folders_become_classes_in_stable_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("album");
        for f in [
            "cats/b.jpg",
            "cats/a.PNG",
            "dogs/puppy/c.webp",
            "top.jpg",
            "notes.txt",
            ".hidden/x.jpg",
        ] {
            touch(&root.join(f));
        }
        let album = scan(std::slice::from_ref(&root)).unwrap();
        let rels: Vec<String> = album
            .entries
            .iter()
            .map(|e| e.rel_out.display().to_string())
            .collect();
        assert_eq!(
            rels,
            ["cats/a.PNG", "cats/b.jpg", "dogs/puppy/c.webp", "top.jpg"]
        );
        assert_eq!(album.classes, ["album", "cats", "dogs"]);
        let labels: Vec<usize> = album.entries.iter().map(|e| e.label).collect();
        assert_eq!(labels, [1, 1, 2, 0]);
    }

    #[test]
    fn several_folders_get_their_own_prefix_and_files_are_taken_as_given() {
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("a/x.jpg"));
        touch(&dir.path().join("b/x.jpg"));
        touch(&dir.path().join("loose.dat"));
        let album = scan(&[
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("loose.dat"),
        ])
        .unwrap();
        let rels: Vec<String> = album
            .entries
            .iter()
            .map(|e| e.rel_out.display().to_string())
            .collect();
        assert_eq!(rels, ["a/x.jpg", "b/x.jpg", "loose.dat"]);
    }

    #[test]
    fn shards_split_the_album_round_robin_and_keep_its_groups() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("album");
        for f in ["a/1.jpg", "a/2.jpg", "a/3.jpg", "b/4.jpg", "b/5.jpg"] {
            touch(&root.join(f));
        }
        let album = scan(std::slice::from_ref(&root)).unwrap();
        let part = |s: &str| {
            let a = album.shard(s.parse().unwrap());
            assert_eq!(a.classes, album.classes);
            assert!(a.entries.iter().enumerate().all(|(i, e)| e.index == i));
            a.entries
                .iter()
                .map(|e| e.rel_out.display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(part("1/2"), ["a/1.jpg", "a/3.jpg", "b/5.jpg"]);
        assert_eq!(part("2/2"), ["a/2.jpg", "b/4.jpg"]);
        assert_eq!(part("1/1").len(), 5);
        for bad in ["0/2", "3/2", "2", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!("2/8".parse::<Shard>().unwrap().to_string(), "2/8");
    }

    #[test]
    fn missing_input_and_empty_folder_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = scan(&[dir.path().join("nope")]).unwrap_err();
        assert!(matches!(e, JobError::InputNotFound(_)), "{e}");
        let e = scan(&[dir.path().to_path_buf()]).unwrap_err();
        assert!(e.to_string().contains("no photos found"), "{e}");
    }
}
