//! Typed errors of the library. The binary turns them into messages and exit codes once, at
//! its edge (rerun's CODE_STYLE: handle each error once).

use std::path::PathBuf;

/// Why one input file could not be read. Loading errors are per file: the batch goes on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct LoadError {
    /// The file that failed.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: LoadErrorKind,
}

/// The reason behind a [`LoadError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadErrorKind {
    /// The file could not be opened or read (missing, permissions, I/O failure).
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// The file has no bytes at all.
    #[error("the file is empty (0 bytes)")]
    Empty,
    /// The bytes are not an image format this app reads (e.g. a text file named `.jpg`).
    #[error("not a supported image (JPEG, PNG, WebP, BMP, TIFF or GIF): {0}")]
    UnknownFormat(String),
    /// The header declares dimensions beyond the configured limits (decompression bomb guard).
    #[error("image is too large: {size} exceeds the limit of {limit}")]
    TooLarge {
        /// Declared size, e.g. `100000×100000`.
        size: String,
        /// The limit that was hit, in words.
        limit: String,
    },
    /// The decoder needed more memory than the limit allows.
    #[error("decoding would need more memory than allowed ({0})")]
    MemoryLimit(String),
    /// The file is damaged or truncated.
    #[error("the image data is damaged or truncated: {0}")]
    Corrupt(String),
    /// A valid file using a feature the decoder does not support (e.g. an exotic colour type).
    #[error("unsupported image variant: {0}")]
    Unsupported(String),
    /// Width or height is zero.
    #[error("the image has no pixels ({width}×{height})")]
    NoPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
}

/// Why writing one protected file failed. Per file: the batch goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Creating folders, the temporary file, or renaming it failed.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// Destination path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The encoder rejected the image.
    #[error("cannot encode {}: {message}", path.display())]
    Encode {
        /// Destination path.
        path: PathBuf,
        /// Encoder message.
        message: String,
    },
    /// The destination would be one of the original photos: refused, originals are never touched.
    #[error("refusing to write {}: it is one of the original photos", .0.display())]
    WouldOverwriteOriginal(PathBuf),
    /// The destination resolves to a place inside an input folder (e.g. through a symlink).
    #[error(
        "refusing to write {}: it resolves into the input folder {}, where originals live",
        path.display(),
        folder.display()
    )]
    WouldWriteIntoInput {
        /// Destination path.
        path: PathBuf,
        /// The input folder it resolves into.
        folder: PathBuf,
    },
}

/// A compute device could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The device kind is not compiled into this build.
    #[error("the {device} device is not part of this build: {hint}")]
    NotBuilt {
        /// Which device was asked for.
        device: &'static str,
        /// How to get it.
        hint: &'static str,
    },
    /// The device exists in this build but none could be started on this machine.
    #[error("no usable {device} device on this machine: {reason}")]
    Unavailable {
        /// Which device was asked for.
        device: &'static str,
        /// What the runtime said.
        reason: String,
    },
}

/// A protection method failed on its own terms (not a per-file problem).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MethodError {
    /// A configuration value is out of range.
    #[error("invalid setting for {method}: {message}")]
    InvalidConfig {
        /// Method id.
        method: &'static str,
        /// What is wrong, in words.
        message: String,
    },
    /// The album cannot be used by this method (e.g. too few photos or classes).
    #[error("{method} cannot protect this album: {message}")]
    UnsuitableAlbum {
        /// Method id.
        method: &'static str,
        /// What is missing, in words.
        message: String,
    },
    /// The run was cancelled while the method was working.
    #[error("cancelled")]
    Cancelled,
    /// The compute backend failed while running the method (e.g. reading a tensor back).
    #[error("compute failed in {method}: {message}")]
    Compute {
        /// Method id.
        method: &'static str,
        /// Backend message.
        message: String,
    },
}

/// Errors of an evaluation run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The data folder or a setting is unusable.
    #[error("{0}")]
    Data(String),
    /// Device set-up failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The protection method failed (or the run was cancelled).
    #[error(transparent)]
    Method(#[from] MethodError),
    /// Writing the report failed.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Errors that stop a whole protection job before or outside per-file work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// No inputs were given, or none of them holds a supported image.
    #[error("no photos found in {0}")]
    NoImages(String),
    /// An input path does not exist.
    #[error("input not found: {}", .0.display())]
    InputNotFound(PathBuf),
    /// Reading a folder listing failed.
    #[error("cannot list {}: {source}", path.display())]
    Scan {
        /// Folder being listed.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The output folder is the source folder, or inside it.
    #[error(
        "the output folder {} is inside the input folder {}: choose a folder outside your originals",
        out.display(),
        input.display()
    )]
    OutputInsideInput {
        /// Output folder.
        out: PathBuf,
        /// Input folder it is inside.
        input: PathBuf,
    },
    /// The output folder could not be created or written.
    #[error("cannot use output folder {}: {source}", path.display())]
    OutputFolder {
        /// Output folder.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// There is not enough free space for the outputs (checked before any work).
    #[error(
        "not enough free space in {}: the protected photos need about {} MB, {} MB are free",
        path.display(),
        needed / 1_000_000,
        free / 1_000_000
    )]
    NoSpace {
        /// Output folder.
        path: PathBuf,
        /// Estimated bytes needed.
        needed: u64,
        /// Bytes free.
        free: u64,
    },
    /// Writing stopped in the middle of the run (e.g. the disk is full); what finished is kept.
    #[error(
        "the run stopped: {message}. {done} photo(s) finished and are recorded in {}; free some space and run the same command with --resume to finish the rest",
        manifest.display()
    )]
    OutputStopped {
        /// The write error.
        message: String,
        /// Photos finished and recorded.
        done: usize,
        /// The manifest holding them.
        manifest: PathBuf,
    },
    /// The part manifests of a split run cannot be combined.
    #[error("cannot merge the parts in {}: {why}", folder.display())]
    Merge {
        /// The output folder.
        folder: PathBuf,
        /// Why not.
        why: String,
    },
    /// `--resume` cannot continue the earlier run.
    #[error("cannot resume from {}: {why}", manifest.display())]
    Resume {
        /// The earlier run's manifest.
        manifest: PathBuf,
        /// Why not.
        why: String,
    },
    /// Device set-up failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// A method failed.
    #[error(transparent)]
    Method(#[from] MethodError),
    /// Writing the manifest failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The worker thread died unexpectedly (a bug).
    #[error("the protection worker stopped unexpectedly: {0}")]
    Worker(String),
}
