//! Keeping originals safe: paths compared as the file system resolves them (through `..` and
//! symlinks), and a guard that every writer asks before it touches a path.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::ExportError;

/// Canonical form of a path that may not exist yet, resolved as the file system would: each
/// existing prefix is canonicalized (symlinks followed, so a later `..` leaves the link's
/// target), and the part that does not exist yet is folded lexically.
pub fn canonical_lenient(p: &Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    let mut exists = true;
    for comp in abs.components() {
        match comp {
            Component::Prefix(_) | Component::RootDir => out.push(comp),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                if exists {
                    match out.canonicalize() {
                        Ok(c) => out = c,
                        Err(_) => exists = false,
                    }
                }
            }
        }
    }
    out
}

/// Case-folded key of a canonical path, so that `A.png` and `a.png` count as the same file
/// (they are on macOS and Windows).
fn key(p: &Path) -> String {
    p.to_string_lossy().to_lowercase()
}

/// The originals of a run: input files and input folders, canonicalized once. Nothing may be
/// written to a path that resolves to an input file or into an input folder, whatever the
/// flags (`--overwrite` included).
#[derive(Clone, Debug, Default)]
pub struct InputGuard {
    files: HashSet<String>,
    folders: Vec<PathBuf>,
}

impl InputGuard {
    /// A guard over `files` (every original photo) and `folders` (the input folders).
    pub fn new<'a>(
        files: impl IntoIterator<Item = &'a Path>,
        folders: impl IntoIterator<Item = &'a Path>,
    ) -> Self {
        Self {
            files: files
                .into_iter()
                .map(|p| key(&canonical_lenient(p)))
                .collect(),
            folders: folders.into_iter().map(canonical_lenient).collect(),
        }
    }

    /// Whether `path` resolves to one of the original files.
    pub fn is_original(&self, path: &Path) -> bool {
        self.files.contains(&key(&canonical_lenient(path)))
    }

    /// The input folder (canonical) that `path` resolves into, or is, if any.
    pub fn input_folder_of(&self, path: &Path) -> Option<&Path> {
        self.folder_holding(&canonical_lenient(path))
    }

    fn folder_holding(&self, resolved: &Path) -> Option<&Path> {
        self.folders
            .iter()
            .find(|f| resolved.starts_with(f))
            .map(PathBuf::as_path)
    }

    /// `Err` when writing `path` could touch an original: it resolves to an input file, or
    /// to a place inside an input folder.
    pub fn check(&self, path: &Path) -> Result<(), ExportError> {
        let resolved = canonical_lenient(path);
        if self.files.contains(&key(&resolved)) {
            return Err(ExportError::WouldOverwriteOriginal(path.to_path_buf()));
        }
        if let Some(folder) = self.folder_holding(&resolved) {
            return Err(ExportError::WouldWriteIntoInput {
                path: path.to_path_buf(),
                folder: folder.to_path_buf(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_and_symlinks_resolve_to_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir_all(&input).unwrap();
        let photo = input.join("a.png");
        std::fs::write(&photo, b"original").unwrap();
        let guard = InputGuard::new([photo.as_path()], []);
        let via_dots = dir.path().join("in/../in/./a.png");
        assert!(guard.is_original(&via_dots));
        assert!(matches!(
            guard.check(&via_dots),
            Err(ExportError::WouldOverwriteOriginal(_))
        ));
        assert!(guard.check(&input.join("a_2.png")).is_ok());
        // A path not yet existing below a `..` is folded lexically.
        assert!(guard.is_original(&dir.path().join("in/new/../a.png")));
        #[cfg(unix)]
        {
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&input, &link).unwrap();
            assert!(guard.is_original(&link.join("a.png")));
            assert!(guard.is_original(&link.join("A.PNG")), "case-folded");
        }
    }

    #[test]
    fn nothing_goes_into_an_input_folder() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir_all(input.join("sub")).unwrap();
        let guard = InputGuard::new([], [input.as_path()]);
        assert!(matches!(
            guard.check(&input.join("sub/new.png")),
            Err(ExportError::WouldWriteIntoInput { .. })
        ));
        assert!(guard.check(&dir.path().join("out/new.png")).is_ok());
        #[cfg(unix)]
        {
            let out = dir.path().join("out");
            std::fs::create_dir_all(&out).unwrap();
            std::os::unix::fs::symlink(&input, out.join("sub")).unwrap();
            assert!(guard.check(&out.join("sub/x.png")).is_err());
        }
    }
}
