//! The command-line face: argument parsing (clap derive) and dispatch. The library does the
//! work; this module turns its results into text, progress bars and exit codes.

mod evaluate;
mod protect;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{ExportFormat, PngCompression, Quality, Strength};
use crate::device::DeviceChoice;
use crate::model::SurrogateKind;
use crate::protect::MethodId;

/// Exit code: every photo was protected.
pub const EXIT_OK: u8 = 0;
/// Exit code: something is wrong with the command line or the job as a whole.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the job ran but some photos failed.
pub const EXIT_SOME_FAILED: u8 = 3;
/// Exit code: cancelled with Ctrl-C (finished photos are kept).
pub const EXIT_CANCELLED: u8 = 130;
/// Exit code: an unexpected internal failure.
pub const EXIT_FAILURE: u8 = 1;

/// Protect photos from being used to train machine-learning models.
#[derive(Debug, Parser)]
#[command(name = "unlearnable", version, about, long_about = None)]
pub struct Cli {
    /// What to do. Without a command, the desktop app opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Protect photos and write the protected copies into an output folder.
    Protect(ProtectArgs),
    /// List the protection methods with a one-line explanation each.
    Methods,
    /// Measure protection: train fresh classifiers on clean vs protected (and defended) data.
    Evaluate(evaluate::EvaluateArgs),
    /// Combine the parts of a run split with `--shard i/n`: the manifests of `protect` into
    /// manifest.json, or the reports of `evaluate` into report.json/.md/accuracy.png.
    Merge {
        /// The output (protect) or report (evaluate) folder all parts wrote into.
        out: PathBuf,
    },
    /// Open the desktop app, optionally with folders or photos already loaded.
    Gui {
        /// Folders and/or photos to open.
        paths: Vec<PathBuf>,
        /// Start protecting them right away (with the last-used settings) and show the first
        /// result.
        #[arg(long)]
        protect: bool,
        /// When everything has loaded, save a screenshot of the window to this PNG and quit
        /// (documentation, CI).
        #[arg(long, value_name = "FILE")]
        screenshot: Option<PathBuf>,
    },
}

/// Strength presets on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StrengthArg {
    /// ε = 4/255: barely visible, weakest.
    Low,
    /// ε = 8/255: the research default.
    Medium,
    /// ε = 16/255: strongest, grain visible in smooth areas.
    High,
}

impl From<StrengthArg> for Strength {
    fn from(s: StrengthArg) -> Self {
        match s {
            StrengthArg::Low => Strength::Low,
            StrengthArg::Medium => Strength::Medium,
            StrengthArg::High => Strength::High,
        }
    }
}

/// Devices on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DeviceArg {
    /// A hardware GPU if there is one, else the CPU.
    Auto,
    /// WGPU (Vulkan/Metal/DX12/GL), even on a software adapter.
    Wgpu,
    /// NVIDIA CUDA (needs a build with `--features cuda`).
    Cuda,
    /// The CPU.
    Cpu,
    /// The CPU through PyTorch's kernels (needs a build with `--features libtorch`).
    Libtorch,
}

impl From<DeviceArg> for DeviceChoice {
    fn from(d: DeviceArg) -> Self {
        match d {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Wgpu => DeviceChoice::Wgpu,
            DeviceArg::Cuda => DeviceChoice::Cuda,
            DeviceArg::Cpu => DeviceChoice::Cpu,
            DeviceArg::Libtorch => DeviceChoice::Libtorch,
        }
    }
}

/// Output formats on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    /// Lossless PNG (recommended).
    Png,
    /// JPEG: smaller files, but re-compression weakens the protection.
    Jpeg,
    /// Lossless WebP.
    Webp,
}

impl From<FormatArg> for ExportFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Png => ExportFormat::Png,
            FormatArg::Jpeg => ExportFormat::Jpeg,
            FormatArg::Webp => ExportFormat::Webp,
        }
    }
}

/// Export presets on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PresetArg {
    /// Full-size lossless PNG (the default).
    Full,
    /// For the web: long side at most 2048 px, JPEG quality 85.
    Web,
}

impl From<PresetArg> for crate::config::ExportPreset {
    fn from(p: PresetArg) -> Self {
        match p {
            PresetArg::Full => crate::config::ExportPreset::Full,
            PresetArg::Web => crate::config::ExportPreset::Web,
        }
    }
}

/// Speed/quality presets on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum QualityArg {
    /// Quickest (small working copies, few rounds).
    Fast,
    /// The default.
    Balanced,
    /// Closest to the papers; slow without a GPU.
    Thorough,
}

impl From<QualityArg> for Quality {
    fn from(q: QualityArg) -> Self {
        match q {
            QualityArg::Fast => Quality::Fast,
            QualityArg::Balanced => Quality::Balanced,
            QualityArg::Thorough => Quality::Thorough,
        }
    }
}

/// Surrogate networks on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SurrogateArg {
    /// Small, fast CNN.
    SmallCnn,
    /// Five-layer CNN (the CPU evaluation classifier).
    MediumCnn,
    /// CIFAR-style ResNet-18.
    Resnet18,
}

impl From<SurrogateArg> for SurrogateKind {
    fn from(s: SurrogateArg) -> Self {
        match s {
            SurrogateArg::SmallCnn => SurrogateKind::SmallCnn,
            SurrogateArg::MediumCnn => SurrogateKind::MediumCnn,
            SurrogateArg::Resnet18 => SurrogateKind::Resnet18,
        }
    }
}

/// PNG compression effort on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PngCompressionArg {
    /// Quickest.
    Fast,
    /// zlib's default level.
    Default,
    /// Smallest files.
    Best,
}

impl From<PngCompressionArg> for PngCompression {
    fn from(p: PngCompressionArg) -> Self {
        match p {
            PngCompressionArg::Fast => PngCompression::Fast,
            PngCompressionArg::Default => PngCompression::Default,
            PngCompressionArg::Best => PngCompression::Best,
        }
    }
}

pub(crate) fn parse_method(s: &str) -> Result<MethodId, String> {
    MethodId::from_id(s).ok_or_else(|| {
        let ids: Vec<&str> = MethodId::ALL.iter().map(|m| m.id()).collect();
        format!("unknown method '{s}'; choose one of: {}", ids.join(", "))
    })
}

/// Arguments of `unlearnable protect`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Strength presets: low = 4/255, medium = 8/255 (default), high = 16/255.\n\
Quality presets (em, em-class), CPU / GPU: fast = 32 / 64 px, 10 steps, 5 rounds; \
balanced (default) = 64 / 128 px, 20 steps, 10 rounds, ResNet-18 on GPU; \
thorough = 96 / 224 px, 20 steps, 20 rounds, ResNet-18.\n\
Exit codes: 0 all photos protected, 2 usage error, 3 some photos failed, 130 cancelled."
)]
pub struct ProtectArgs {
    /// Photo folders (searched recursively) and/or single photos.
    #[arg(required_unless_present = "files_from")]
    pub inputs: Vec<PathBuf>,
    /// Also protect the photos listed in this file, one path per line (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    pub files_from: Option<PathBuf>,
    /// Protect only part I of N of the album (e.g. `--shard 2/8`, one per machine or GPU);
    /// every part writes into the same --out, then `unlearnable merge OUT` combines them.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::imaging::Shard>,
    /// Output folder; sub-folders and file names are mirrored. Never inside an input folder.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Protection method (see `unlearnable methods`) [default: em].
    #[arg(short, long, value_parser = parse_method)]
    pub method: Option<MethodId>,
    /// How strong the protection is (and how visible).
    #[arg(short, long, value_enum)]
    pub strength: Option<StrengthArg>,
    /// Exact budget in 1/255 units (1–64); overrides --strength.
    #[arg(short, long)]
    pub epsilon: Option<f32>,
    /// Where to compute.
    #[arg(short, long, value_enum, default_value = "auto")]
    pub device: DeviceArg,
    /// Seed: the same seed gives byte-identical results.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where the photos go: `full` (full-size PNG) or `web` (long side ≤ 2048 px, JPEG 85;
    /// `shield` then tunes its noise through that JPEG). --format/--jpeg-quality override it.
    #[arg(long, value_enum)]
    pub preset: Option<PresetArg>,
    /// Output format.
    #[arg(short, long, value_enum)]
    pub format: Option<FormatArg>,
    /// JPEG quality (1–100), with --format jpeg.
    #[arg(long)]
    pub jpeg_quality: Option<u8>,
    /// PNG compression effort: fast (default), default, best (smallest, slowest).
    #[arg(long, value_enum)]
    pub png_compression: Option<PngCompressionArg>,
    /// Keep the artist and copyright fields (location and camera details are always removed).
    #[arg(long)]
    pub keep_copyright: bool,
    /// Replace files already in the output folder instead of picking free names.
    #[arg(long)]
    pub overwrite: bool,
    /// Continue an interrupted run into the same --out folder: photos it finished are kept,
    /// the rest are protected with its settings (read from its manifest).
    #[arg(long)]
    pub resume: bool,
    /// Add this to every output file name before the extension (e.g. `_protected`).
    #[arg(long, value_name = "TEXT")]
    pub suffix: Option<String>,
    /// Size (px) of the copy methods compute on: the long side for conv/random (default 256),
    /// the square side for em/em-class (default from --quality).
    #[arg(long)]
    pub working_size: Option<u32>,
    /// Speed/quality preset of training-based methods (em, em-class, shield).
    #[arg(short, long, value_enum)]
    pub quality: Option<QualityArg>,
    /// Surrogate network of training-based methods.
    #[arg(long, value_enum)]
    pub surrogate: Option<SurrogateArg>,
    /// Round limit of training-based methods.
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Number of look-alike groups for a folder without sub-folders (em, em-class).
    #[arg(long)]
    pub clusters: Option<usize>,
    /// Photos processed at once (bounds memory).
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// Start from a saved config (e.g. the `config` object of a previous manifest.json, or a
    /// file with the same fields); flags given here override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print progress events and the final summary as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Parse the process arguments and run. Returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(run(cli))
}

/// Run a parsed command line; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    match cli.command {
        Some(Command::Protect(args)) => protect::run(args),
        Some(Command::Evaluate(args)) => evaluate::run(args),
        Some(Command::Merge { out }) if crate::eval::shard::has_parts(&out) => {
            match crate::eval::shard::merge(&out) {
                Ok(report) => {
                    println!("{}", report.markdown());
                    eprintln!(
                        "merged the evaluation parts; reports written to {}",
                        out.display()
                    );
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_FAILURE
                }
            }
        }
        Some(Command::Merge { out }) => match crate::job::shard::merge(&out) {
            Ok(run) => {
                let s = &run.manifest.summary;
                eprintln!(
                    "merged {} parts: {} protected, {} failed. Manifest: {}",
                    run.manifest.merged_from.len(),
                    s.done,
                    s.failed,
                    run.manifest_path.display()
                );
                if s.failed > 0 {
                    EXIT_SOME_FAILED
                } else {
                    EXIT_OK
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_FAILURE
            }
        },
        Some(Command::Methods) => {
            for m in MethodId::ALL {
                println!("{:<8} {}", m.id(), m.title());
                println!("         {}", m.explain());
            }
            EXIT_OK
        }
        Some(Command::Gui {
            paths,
            protect,
            screenshot,
        }) => gui(crate::gui::Launch {
            paths,
            protect,
            screenshot,
        }),
        None => gui(crate::gui::Launch::default()),
    }
}

fn gui(launch: crate::gui::Launch) -> u8 {
    match crate::gui::run(launch) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!(
                "error: the desktop app could not start: {e}\n\
                 (no display or graphics driver?) The command line works without one:\n  \
                 unlearnable protect <folder> --out <output folder>"
            );
            EXIT_FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protect_arguments_parse_into_typed_values() {
        let cli = Cli::try_parse_from([
            "unlearnable",
            "protect",
            "a",
            "b.jpg",
            "--out",
            "o",
            "--method",
            "random",
            "--epsilon",
            "6",
            "--device",
            "cpu",
            "--format",
            "jpeg",
        ])
        .unwrap();
        let Some(Command::Protect(p)) = cli.command else {
            panic!("not protect")
        };
        assert_eq!(p.inputs, [PathBuf::from("a"), PathBuf::from("b.jpg")]);
        assert_eq!(p.method, Some(MethodId::Random));
        assert_eq!(p.epsilon, Some(6.0));
        assert!(matches!(p.device, DeviceArg::Cpu));
    }

    #[test]
    fn unknown_method_lists_the_choices() {
        let e = Cli::try_parse_from([
            "unlearnable",
            "protect",
            "a",
            "--out",
            "o",
            "--method",
            "magic",
        ])
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("conv") && msg.contains("random"), "{msg}");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn output_is_required_and_no_command_is_allowed() {
        assert!(Cli::try_parse_from(["unlearnable", "protect", "a"]).is_err());
        assert!(
            Cli::try_parse_from(["unlearnable"])
                .unwrap()
                .command
                .is_none()
        );
    }
}
