//! `unlearnable evaluate`: run the protection experiment and write the reports.

use std::path::PathBuf;

use super::{
    DeviceArg, EXIT_CANCELLED, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, QualityArg, StrengthArg,
    SurrogateArg, parse_method,
};
use crate::config::ProtectConfig;
use crate::error::{EvalError, MethodError};
use crate::eval::{self, EvalConfig};
use crate::progress::ProgressEvent;
use crate::protect::MethodId;

/// Arguments of `unlearnable evaluate`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Defences: grayscale, share (half size + JPEG 75), jpeg10, jpeg75, jpeg:Q, bits2, bits:N, downscale2, rescale:F, \
ueraser-lite, ueraser-max, adv4 (adversarial training, ε = 4/255; adv:E; slow); combine with '+', e.g. grayscale+jpeg75. 'none' is the undefended arm."
)]
pub struct EvaluateArgs {
    /// Labelled data set with `train/<class>/` and `test/<class>/` folders.
    #[arg(long, required_unless_present = "album", conflicts_with = "album")]
    pub data: Option<PathBuf>,
    /// Album mode (a proxy): your own photos, grouped by sub-folder or by similarity; a
    /// share is held out clean for testing and the rest protected.
    #[arg(long, num_args = 1..)]
    pub album: Vec<PathBuf>,
    /// Album mode: share of each group held out as clean test photos.
    #[arg(long, default_value_t = 0.25)]
    pub holdout: f64,
    /// Album mode: fewest training steps per arm (small albums get more epochs so that the
    /// model fits its training photos; `--epochs` is the minimum).
    #[arg(long, default_value_t = 400)]
    pub min_steps: usize,
    /// Protection method under test.
    #[arg(short, long, value_parser = parse_method, default_value = "em")]
    pub method: MethodId,
    /// Defence (repeatable); each one is a separate arm trained on protected data.
    #[arg(long = "defence", default_value = "none")]
    pub defences: Vec<String>,
    /// Training images per class.
    #[arg(long, default_value_t = 500)]
    pub train_per_class: usize,
    /// Test images per class.
    #[arg(long, default_value_t = 100)]
    pub test_per_class: usize,
    /// Epochs of each fresh classifier [default: 20, the CPU protocol of EVALUATION.md; album
    /// mode 12].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size of the fresh classifiers [default: 64; album mode 32].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate of the fresh classifiers, cosine schedule to 0 [default: 0.1; album
    /// mode 0.05].
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Architecture of the fresh classifiers [default: medium-cnn; album mode small-cnn].
    #[arg(long, value_enum)]
    pub model: Option<SurrogateArg>,
    /// Optimiser of the fresh classifiers: `sgd` (the papers' recipe) or `adam` (another
    /// recipe, for transfer tests such as tue's; pass `--learning-rate 0.001` with it).
    #[arg(long, value_enum, default_value = "sgd")]
    pub optimizer: OptimizerArg,
    /// How the fresh networks learn: `supervised` (a classifier trained with the labels) or
    /// `contrastive` (SimCLR pre-training without labels, then a linear probe with them: how
    /// web-scale scrapers learn). With `contrastive`, --learning-rate defaults to 0.2 and
    /// --batch-size to 128; UEraser and adversarial training do not apply.
    #[arg(
        long,
        value_enum,
        default_value = "supervised",
        conflicts_with = "album"
    )]
    pub exploiter: ExploiterArg,
    /// Protection strength.
    #[arg(short, long, value_enum, default_value = "medium")]
    pub strength: StrengthArg,
    /// Speed/quality preset of training-based methods.
    #[arg(short, long, value_enum)]
    pub quality: Option<QualityArg>,
    /// Where to compute.
    #[arg(short, long, value_enum, default_value = "auto")]
    pub device: DeviceArg,
    /// Seed of protection, classifiers and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Skip the clean reference arm (it is deterministic: re-use one measured with the same
    /// data, scale and seed).
    #[arg(long)]
    pub no_clean_arm: bool,
    /// Also train on the clean data under this defence (repeatable; `same` for every
    /// `--defence`): the reference a defended protected arm is read against, since a defence
    /// alone costs accuracy too. The report shows the gap to it.
    #[arg(long = "clean-defence")]
    pub clean_defences: Vec<String>,
    /// Real-photo protocol: protect and defend the photos at their native size, then train on
    /// random-resized crops + flips of this side (px), testing on the clean test photos
    /// resized to it (e.g. 64 on a CPU, 112–224 on a GPU). With `--album`: the side of the
    /// crops the classifier trains on [default: 64].
    #[arg(long)]
    pub train_size: Option<u32>,
    /// Start the protection from a saved config (a `manifest.json` works) instead of
    /// `--method`/`--strength`/`--quality` defaults; `--seed` still applies.
    #[arg(long)]
    pub protect_config: Option<PathBuf>,
    /// Protect as if the training photos were one flat folder: the protection gets k-means
    /// look-alike groups instead of the class labels (the exploiter still trains with the
    /// classes) — the label-agnostic comparison for `clusters`.
    #[arg(long)]
    pub pseudo_labels: bool,
    /// Training steps of the diffusion model behind `--defence diffusion`/`le` [default: 1000,
    /// CPU-sized; a GPU affords 10 000].
    #[arg(long)]
    pub diffusion_steps: Option<usize>,
    /// Round limit of training-based methods.
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Train only part I of N of the arms (e.g. `--shard 2/4`, one per machine or GPU; every
    /// part protects the same training split). Each part writes report.shard-I-of-N.json into
    /// the same --report folder, then `unlearnable merge REPORT` writes the whole report.
    #[arg(long, value_name = "I/N", conflicts_with = "album")]
    pub shard: Option<crate::imaging::Shard>,
    /// Folder for report.json, report.md and accuracy.png.
    #[arg(long)]
    pub report: PathBuf,
}

/// `--exploiter` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExploiterArg {
    /// A classifier trained with the labels.
    Supervised,
    /// Contrastive pre-training without labels, read by a linear probe.
    Contrastive,
}

impl From<ExploiterArg> for eval::Exploiter {
    fn from(e: ExploiterArg) -> Self {
        match e {
            ExploiterArg::Supervised => eval::Exploiter::Supervised,
            ExploiterArg::Contrastive => eval::Exploiter::Contrastive,
        }
    }
}

/// `--optimizer` values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OptimizerArg {
    /// SGD with momentum 0.9 and weight decay (the papers' recipe).
    Sgd,
    /// Adam with weight decay.
    Adam,
}

impl From<OptimizerArg> for crate::train::Optimizer {
    fn from(o: OptimizerArg) -> Self {
        match o {
            OptimizerArg::Sgd => crate::train::Optimizer::Sgd,
            OptimizerArg::Adam => crate::train::Optimizer::Adam,
        }
    }
}

/// The contrastive exploiter's batch (more images, more negatives per view) and peak learning
/// rate (SGD) when not given.
const CONTRASTIVE_BATCH: usize = 128;
const CONTRASTIVE_LEARNING_RATE: f64 = 0.2;

/// Run the command; returns the exit code.
pub fn run(args: EvaluateArgs) -> u8 {
    let mut protect = match &args.protect_config {
        Some(path) => match super::protect::load_config(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e:#}");
                return EXIT_USAGE;
            }
        },
        None => ProtectConfig::new(args.method, args.strength.into()),
    };
    protect.seed = args.seed;
    if let (Some(em), Some(q)) = (protect.method.training_mut(), args.quality) {
        em.quality = q.into();
    }
    if let (Some(em), Some(r)) = (protect.method.training_mut(), args.rounds) {
        em.max_rounds = Some(r.max(1));
    }
    // Unset scale knobs come from the library's presets: the CPU protocol for labelled data,
    // the app's Verify settings for albums.
    let base = EvalConfig::default();
    let preset = eval::album::AlbumEval::default();
    let cfg = EvalConfig {
        protect,
        defences: args.defences,
        train_per_class: args.train_per_class,
        test_per_class: args.test_per_class,
        epochs: args.epochs.unwrap_or(base.epochs).max(1),
        model: args.model.map_or(base.model, Into::into),
        optimizer: args.optimizer.into(),
        batch_size: args
            .batch_size
            .unwrap_or(match args.exploiter {
                ExploiterArg::Supervised => base.batch_size,
                ExploiterArg::Contrastive => CONTRASTIVE_BATCH,
            })
            .max(1),
        learning_rate: args.learning_rate.unwrap_or(match args.exploiter {
            ExploiterArg::Supervised => base.learning_rate,
            ExploiterArg::Contrastive => CONTRASTIVE_LEARNING_RATE,
        }),
        exploiter: args.exploiter.into(),
        seed: args.seed,
        clean_arm: !args.no_clean_arm,
        clean_defences: args.clean_defences,
        train_size: args.train_size.map(|t| t.clamp(8, 1024)),
        pseudo_labels: args.pseudo_labels,
        diffusion: eval::diffusion::DiffusionConfig {
            steps: args.diffusion_steps.unwrap_or(base.diffusion.steps).max(1),
            ..base.diffusion.clone()
        },
        ..EvalConfig::default()
    };
    let cancel = crate::CancelToken::new();
    let handler_token = cancel.clone();
    let _ = ctrlc::set_handler(move || handler_token.cancel());
    let sink = |ev: ProgressEvent| match ev {
        ProgressEvent::Epoch {
            arm,
            epoch,
            epochs,
            train_loss,
            test_accuracy,
        } => eprintln!(
            "{arm}: epoch {epoch}/{epochs}, loss {train_loss:.3}, clean test accuracy {:.1} %",
            test_accuracy * 100.0
        ),
        ProgressEvent::Round {
            round, accuracy, ..
        } => {
            eprintln!(
                "protecting: round {round}, surrogate accuracy {:.1} %",
                accuracy * 100.0
            )
        }
        _ => {}
    };
    let result = match &args.data {
        Some(data) => eval::run(data, &cfg, args.device.into(), args.shard, &sink, &cancel),
        None => {
            let album = eval::album::AlbumEval {
                eval: EvalConfig {
                    epochs: args.epochs.unwrap_or(preset.eval.epochs).max(1),
                    model: args.model.map_or(preset.eval.model, Into::into),
                    batch_size: args.batch_size.unwrap_or(preset.eval.batch_size).max(1),
                    learning_rate: args.learning_rate.unwrap_or(preset.eval.learning_rate),
                    ..cfg
                },
                holdout: args.holdout,
                min_steps: args.min_steps,
                side: args.train_size.map_or(preset.side, |t| t.clamp(8, 1024)),
                ..Default::default()
            };
            eval::album::run_album(&args.album, &album, args.device.into(), &sink, &cancel)
        }
    };
    match result {
        Ok(report) if let Some(shard) = args.shard => {
            match eval::shard::write_part(&report, &args.report, shard) {
                Ok(path) => {
                    eprintln!(
                        "Part {shard} written to {}; when every part is there: unlearnable merge {}",
                        path.display(),
                        args.report.display()
                    );
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_FAILURE
                }
            }
        }
        Ok(report) => {
            if let Err(e) = report.write(&args.report) {
                eprintln!("error: {e}");
                return EXIT_FAILURE;
            }
            println!("{}", report.markdown());
            eprintln!("Reports written to {}", args.report.display());
            EXIT_OK
        }
        Err(EvalError::Method(MethodError::Cancelled)) => {
            eprintln!("cancelled");
            EXIT_CANCELLED
        }
        Err(e @ (EvalError::Data(_) | EvalError::Device(_))) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_FAILURE
        }
    }
}
