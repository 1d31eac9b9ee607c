//! `unlearnable protect`: build the config from flags, run the job on a worker thread, show a
//! progress bar with ETA (or JSON lines), cancel on Ctrl-C, map the outcome to an exit code.

use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{EXIT_CANCELLED, EXIT_FAILURE, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, ProtectArgs};
use crate::config::{MethodConfig, ProtectConfig};
use crate::error::{JobError, MethodError};
use crate::job::{self, ProtectJob};
use crate::progress::ProgressEvent;

/// Flags override the saved config (if any), which overrides the defaults.
/// Read a saved protection config: a bare config or a whole `manifest.json` (which holds it
/// under "config").
pub fn load_config(path: &std::path::Path) -> anyhow::Result<ProtectConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let inner = value.get("config").cloned().unwrap_or(value);
    serde_json::from_value(inner)
        .with_context(|| format!("{} is not a protection config", path.display()))
}

/// Paths listed one per line in `path` (`-`: standard input); blank lines are skipped.
fn read_file_list(path: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read the file list from stdin")?
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the file list {}", path.display()))?
    };
    Ok(text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(std::path::PathBuf::from)
        .collect())
}

pub fn build_config(args: &ProtectArgs) -> anyhow::Result<ProtectConfig> {
    let earlier = args
        .resume
        .then(|| job::resume_manifest_path(&args.out, args.shard))
        .flatten();
    let mut cfg = match (&args.config, &earlier) {
        (Some(path), _) => load_config(path)?,
        (None, Some(manifest)) => load_config(manifest)?,
        (None, None) => ProtectConfig::default(),
    };
    if let Some(m) = args.method
        && cfg.method.id() != m
    {
        cfg.method = MethodConfig::default_for(m);
    }
    if let Some(s) = args.strength {
        let s = s.into();
        cfg.strength = Some(s);
        cfg.epsilon_255 = crate::config::Strength::epsilon_255(s);
    }
    if let Some(e) = args.epsilon {
        cfg.strength = None;
        cfg.epsilon_255 = e;
    }
    if let Some(seed) = args.seed {
        cfg.seed = seed;
    }
    if let Some(p) = args.preset {
        crate::config::ExportPreset::from(p).apply(&mut cfg.export);
    }
    if let Some(f) = args.format {
        cfg.export.format = f.into();
        cfg.export.preset = None;
    }
    if let Some(q) = args.jpeg_quality {
        cfg.export.jpeg_quality = q;
        cfg.export.preset = None;
    }
    if let Some(p) = args.png_compression {
        cfg.export.png_compression = p.into();
    }
    cfg.export.keep_copyright |= args.keep_copyright;
    cfg.export.overwrite |= args.overwrite;
    if let Some(suffix) = &args.suffix {
        cfg.export.name_suffix = suffix.clone();
    }
    if let Some(w) = args.working_size {
        cfg.working_size = w;
    }
    if let Some(em) = cfg.method.training_mut() {
        if let Some(q) = args.quality {
            em.quality = q.into();
        }
        if let Some(s) = args.surrogate {
            em.surrogate = Some(s.into());
        }
        if let Some(r) = args.rounds {
            em.max_rounds = Some(r);
        }
        if let Some(k) = args.clusters {
            em.clusters = Some(k);
        }
        if let Some(w) = args.working_size {
            em.working_size = Some(w);
        }
    }
    if let Some(j) = args.jobs {
        cfg.batch_size = j;
    }
    cfg.validate().map_err(anyhow::Error::msg)?;
    Ok(cfg)
}

fn is_usage(e: &JobError) -> bool {
    matches!(
        e,
        JobError::NoImages(_)
            | JobError::InputNotFound(_)
            | JobError::OutputInsideInput { .. }
            | JobError::Config(_)
            | JobError::Resume { .. }
            | JobError::NoSpace { .. }
            | JobError::Device(_)
            | JobError::Method(MethodError::UnsuitableAlbum { .. })
    )
}

fn bar(total: u64) -> ProgressBar {
    let pb = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{spinner} {prefix:>10} [{bar:30}] {pos}/{len}  {elapsed} elapsed, ETA {eta}  {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    pb.set_style(style);
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Run the command; returns the exit code.
pub fn run(args: ProtectArgs) -> u8 {
    let config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return EXIT_USAGE;
        }
    };
    if config.export.format.is_lossy() {
        eprintln!(
            "warning: JPEG re-compression weakens the protection; PNG (the default) keeps it intact."
        );
    }
    let json = args.json;
    let mut inputs = args.inputs;
    if let Some(list) = &args.files_from {
        match read_file_list(list) {
            Ok(more) => inputs.extend(more),
            Err(e) => {
                eprintln!("error: {e:#}");
                return EXIT_USAGE;
            }
        }
    }
    let job = ProtectJob {
        inputs,
        out_dir: args.out,
        config,
        device: args.device.into(),
        resume: args.resume,
        shard: args.shard,
    };
    let handle = match job::spawn(job, || {}) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let cancel = handle.cancel.clone();
    let pressed = std::sync::atomic::AtomicBool::new(false);
    // A failure to install the handler only means Ctrl-C kills the process the usual way;
    // finished files are complete either way (atomic writes).
    let _ = ctrlc::set_handler(move || {
        if pressed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT_CANCELLED));
        }
        eprintln!(
            "\ncancelling: finishing the photo in progress (press Ctrl-C again to quit now)…"
        );
        cancel.cancel();
    });

    let mut pb: Option<ProgressBar> = None;
    for ev in handle.events.iter() {
        if json {
            if let Ok(line) = serde_json::to_string(&ev) {
                println!("{line}");
            }
            continue;
        }
        match &ev {
            ProgressEvent::Started {
                total,
                method,
                device,
                classes,
            } => {
                eprintln!("device: {device}");
                eprintln!(
                    "method: {method}; {total} photo(s) in {} group(s): {}",
                    classes.len(),
                    classes.join(", ")
                );
                pb = Some(bar(*total as u64));
            }
            ProgressEvent::Phase { name, total } => {
                if let Some(pb) = &pb {
                    pb.set_length(*total as u64);
                    pb.set_position(0);
                    pb.reset_eta();
                    pb.set_prefix(name.clone());
                    pb.set_message("");
                }
            }
            ProgressEvent::PhotoRead { .. } => {
                if let Some(pb) = &pb {
                    pb.inc(1);
                }
            }
            ProgressEvent::Round {
                round,
                max_rounds,
                accuracy,
                loss,
                ..
            } => {
                let text = format!(
                    "round {round}/{max_rounds}: surrogate accuracy on protected copies {:.0} %, loss {loss:.3}",
                    accuracy * 100.0
                );
                match &pb {
                    Some(pb) if !pb.is_hidden() => {
                        pb.set_position(u64::from(*round));
                        pb.set_message(text);
                    }
                    _ => eprintln!("{text}"),
                }
            }
            ProgressEvent::ImageDone {
                output, visibility, ..
            } => {
                if let Some(pb) = &pb {
                    pb.set_message(format!(
                        "{} ({})",
                        output.file_name().unwrap_or_default().to_string_lossy(),
                        visibility_words(visibility)
                    ));
                    pb.inc(1);
                }
            }
            ProgressEvent::ImageFailed { source, error, .. } => {
                let line = format!("failed: {}: {error}", source.display());
                match &pb {
                    Some(pb) => {
                        // `suspend` prints above the bar on a terminal and plainly otherwise
                        // (`println` is silent when the bar is hidden).
                        pb.suspend(|| eprintln!("{line}"));
                        pb.inc(1);
                    }
                    None => eprintln!("{line}"),
                }
            }
            ProgressEvent::Finished { .. }
            | ProgressEvent::Epoch { .. }
            | ProgressEvent::Exported { .. } => {}
        }
    }
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    match handle.join() {
        Ok(summary) => {
            let s = &summary.manifest.summary;
            if json {
                let line = serde_json::json!({
                    "event": "summary",
                    "manifest": summary.manifest_path,
                    "done": s.done, "failed": s.failed, "skipped": s.skipped,
                    "cancelled": summary.manifest.cancelled,
                });
                println!("{line}");
            } else {
                let psnr = s
                    .mean_psnr_db
                    .zip(s.mean_ssim)
                    .map(|(p, q)| format!(", mean PSNR {p:.1} dB, SSIM {q:.3}"))
                    .unwrap_or_default();
                let seen = s
                    .mean_cast_de00
                    .zip(s.mean_flat_noise_255)
                    .map(|(c, f)| format!(", colour cast ΔE {c:.2}, flat-area noise {f:.1}/255"))
                    .unwrap_or_default();
                let psnr = psnr + &seen;
                eprintln!(
                    "{} protected, {} failed{}{psnr} in {:.1} s. Manifest: {}",
                    s.done,
                    s.failed,
                    if s.skipped > 0 {
                        format!(", {} not started (cancelled)", s.skipped)
                    } else {
                        String::new()
                    },
                    s.seconds,
                    summary.manifest_path.display()
                );
            }
            if summary.manifest.cancelled {
                EXIT_CANCELLED
            } else if s.failed > 0 {
                EXIT_SOME_FAILED
            } else {
                EXIT_OK
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            if is_usage(&e) {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            }
        }
    }
}

/// The visibility figures of one photo in a few words.
fn visibility_words(v: &crate::imaging::Visibility) -> String {
    format!(
        "{:.1} dB, SSIM {:.3}, cast ΔE {:.2}, flat noise {:.1}/255",
        v.psnr_db, v.ssim, v.cast_de00, v.flat_noise_255
    )
}
