//! What the app remembers between launches (eframe storage), apart from runtime state.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{ExportConfig, MethodConfig, ProtectConfig, Quality, Strength};
use crate::device::DeviceChoice;
use crate::protect::MethodId;

/// Key in eframe's storage.
pub const STORAGE_KEY: &str = "unlearnable-settings";

/// Most recent folders remembered.
pub const MAX_RECENT: usize = 8;

/// Light, dark, or follow the system.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThemeChoice {
    /// Follow the operating system.
    #[default]
    System,
    /// Light.
    Light,
    /// Dark.
    Dark,
}

/// How the compare view is laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareLayout {
    /// Clean | noise | protected.
    #[default]
    SideBySide,
    /// One pane, clean left of a movable line, protected right.
    Split,
}

/// Persisted settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Protection method.
    pub method: MethodId,
    /// Strength preset; `None` = the expert ε below.
    pub strength: Option<Strength>,
    /// ε in 1/255 units (used when `strength` is `None`).
    pub epsilon_255: f32,
    /// Speed/quality of training-based methods.
    pub quality: Quality,
    /// Where compute runs.
    pub device: DeviceChoice,
    /// Colour theme.
    pub theme: ThemeChoice,
    /// Recently opened folders, newest first.
    pub recent: Vec<PathBuf>,
    /// Export format and metadata policy.
    pub export: ExportConfig,
    /// Last export folder.
    pub export_dir: Option<PathBuf>,
    /// Noise amplification in the compare view.
    pub amplify: f32,
    /// Show the noise as a heat map instead of signed colour.
    pub heat_map: bool,
    /// Compare layout.
    pub layout: CompareLayout,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            method: MethodId::Em,
            strength: Some(Strength::Medium),
            epsilon_255: Strength::Medium.epsilon_255(),
            quality: Quality::Fast,
            device: DeviceChoice::Auto,
            theme: ThemeChoice::System,
            recent: Vec::new(),
            export: ExportConfig::default(),
            export_dir: None,
            amplify: 10.0,
            heat_map: false,
            layout: CompareLayout::SideBySide,
        }
    }
}

impl Settings {
    /// ε in 1/255 units actually used.
    pub fn epsilon_255(&self) -> f32 {
        self.strength
            .map(Strength::epsilon_255)
            .unwrap_or(self.epsilon_255)
    }

    /// The protection config these settings describe (staged as lossless PNG with credit
    /// kept: the export step applies the user's format and metadata choices).
    pub fn protect_config(&self) -> ProtectConfig {
        let mut cfg = ProtectConfig {
            method: MethodConfig::default_for(self.method),
            strength: self.strength,
            epsilon_255: self.epsilon_255(),
            ..ProtectConfig::default()
        };
        if let Some(e) = cfg.method.training_mut() {
            e.quality = self.quality;
        }
        // The staged copies are lossless; a JPEG export is what the shield is tuned through.
        if let crate::config::MethodConfig::Shield(c) = &mut cfg.method
            && self.export.format == crate::config::ExportFormat::Jpeg
        {
            c.transforms.include_jpeg(self.export.jpeg_quality);
        }
        cfg.export.keep_copyright = true;
        cfg
    }

    /// Put `folder` first in the recent list.
    pub fn remember(&mut self, folder: PathBuf) {
        self.recent.retain(|p| p != &folder);
        self.recent.insert(0, folder);
        self.recent.truncate(MAX_RECENT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_tolerate_missing_fields() {
        let mut s = Settings {
            method: MethodId::Conv,
            strength: None,
            epsilon_255: 6.0,
            ..Settings::default()
        };
        s.remember(PathBuf::from("/a"));
        s.remember(PathBuf::from("/b"));
        s.remember(PathBuf::from("/a"));
        assert_eq!(s.recent, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        let json = serde_json::to_string(&s).expect("serializes");
        let back: Settings = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, s);
        // Settings from an older version with fewer fields still load.
        let old: Settings = serde_json::from_str(r#"{"method":"Random"}"#)
            .or_else(|_| serde_json::from_str(r#"{"method":"random"}"#))
            .expect("parses");
        assert_eq!(old.method, MethodId::Random);
        assert_eq!(old.amplify, 10.0);
    }

    #[test]
    fn custom_epsilon_and_quality_reach_the_protect_config() {
        let s = Settings {
            method: MethodId::Em,
            strength: None,
            epsilon_255: 5.0,
            quality: Quality::Thorough,
            ..Settings::default()
        };
        let cfg = s.protect_config();
        assert_eq!(cfg.epsilon_255, 5.0);
        match cfg.method {
            MethodConfig::Em(ref e) => assert_eq!(e.quality, Quality::Thorough),
            other => panic!("wrong method {other:?}"),
        }
        assert!(cfg.validate().is_ok());
        assert_eq!(
            Settings::default().protect_config().epsilon_255,
            Strength::Medium.epsilon_255()
        );
    }
}
