//! The protection methods by name: ids, titles and plain-language explanations. A leaf
//! module (no compute, no images) that the config, the CLI, the app and `evaluate` all read.

use serde::{Deserialize, Serialize};

/// The method ids the CLI's `--method` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodId {
    /// Error-minimizing noise, sample-wise.
    Em,
    /// Error-minimizing noise, class-wise.
    EmClass,
    /// Convolution-based class-wise filters.
    Conv,
    /// Uniform random noise (control).
    Random,
    /// Invisible, share-robust error-minimizing noise.
    Shield,
    /// Robust error-minimizing noise (holds against adversarial training).
    Rem,
    /// Transferable unlearnable examples (EM + class separability of the noise).
    Tue,
    /// Unlearnable Clusters (label-agnostic, one pattern per look-alike cluster).
    Clusters,
}

/// Everything the CLI, the app and `evaluate` know about a method, apart from its settings
/// ([`crate::config::MethodConfig`]) and its computation (`crate::protect::build`).
#[derive(Debug)]
pub struct MethodInfo {
    /// Which method.
    pub method: MethodId,
    /// The id as typed on the command line and saved in manifests.
    pub id: &'static str,
    /// Short display name.
    pub title: &'static str,
    /// One plain-language sentence: what it does, how strong, how slow, what it needs.
    pub explain: &'static str,
    /// Whether the published result depends on photos being grouped into classes.
    pub uses_classes: bool,
    /// Whether the desktop app offers it. `conv` is not: as published it is a strong, visible
    /// blur, and kept within an invisible ε it barely protected in our measurements
    /// (EVALUATION.md), so offering it to people who cannot check would promise what it does
    /// not do. It stays in the CLI and `evaluate` for research and comparison.
    pub in_app: bool,
    /// Whether it trains on the whole album before writing anything.
    pub training_based: bool,
}

/// The registry: one entry per method, in the order menus list them. A new method adds its
/// entry here, its settings to `MethodConfig` and its constructor to `protect::build`; the
/// exhaustive matches there (and the test below) say when one is missing.
pub const METHODS: [MethodInfo; 8] = [
    MethodInfo {
        method: MethodId::Em,
        id: "em",
        title: "Error-minimizing noise",
        explain: "Trains a small model on your photos and tunes a faint pattern for each photo that \
                 makes it look 'already learned', so models trained on it learn little; the \
                 strongest method here against models trained with labels (not against \
                 self-supervised ones, in our tests), takes seconds to minutes per album, needs \
                 at least 2 photos (Huang et al., 2021).",
        uses_classes: true,
        in_app: true,
        training_based: true,
    },
    MethodInfo {
        method: MethodId::EmClass,
        id: "em-class",
        title: "Error-minimizing noise, one pattern per group",
        explain: "Like error-minimizing noise, but one shared pattern per group of photos; faster and \
                 very effective when each folder is one subject, but a shared pattern is easier to \
                 spot and remove.",
        uses_classes: true,
        in_app: true,
        training_based: true,
    },
    MethodInfo {
        method: MethodId::Rem,
        id: "rem",
        title: "Robust error-minimizing noise (slow, experimental)",
        explain: "Error-minimizing noise made to hold even when a model is trained to resist small \
                 changes (adversarial training) and on cropped and flipped copies (Fu et al., \
                 2022); several times slower than error-minimizing noise; EXPERIMENTAL: in our \
                 tests it protected less than error-minimizing noise, and kept only a few points \
                 more against adversarial training, with three times the rounds \
                 (EVALUATION.md); needs at least 2 photos.",
        uses_classes: true,
        in_app: true,
        training_based: true,
    },
    MethodInfo {
        method: MethodId::Tue,
        id: "tue",
        title: "Transferable error-minimizing noise",
        explain: "Error-minimizing noise whose patterns also differ clearly from group to group, \
                 meant to work for other kinds of models and training too (Ren et al., 2023); \
                 about as fast as error-minimizing noise; in our tests it protected a little less \
                 than plain error-minimizing noise against models trained with labels, and a \
                 little more against self-supervised ones, where plain error-minimizing noise \
                 does nothing (EVALUATION.md); needs at least 2 photos.",
        uses_classes: true,
        in_app: true,
        training_based: true,
    },
    MethodInfo {
        method: MethodId::Clusters,
        id: "clusters",
        title: "Unlearnable clusters (experimental, no folders needed)",
        explain: "Ignores folders: sorts the photos into look-alike clusters and gives each cluster \
                 one pattern that makes its photos look like another cluster to a model (Zhang et \
                 al., 2023); for a flat folder without labels; EXPERIMENTAL: without the paper's \
                 large pretrained model it did not yet protect in our tests (EVALUATION.md); \
                 needs at least 2 photos.",
        uses_classes: false,
        in_app: true,
        training_based: true,
    },
    MethodInfo {
        method: MethodId::Shield,
        id: "shield",
        title: "Invisible shield (experimental)",
        explain: "Like error-minimizing noise, but hidden where the eye does not look (textures, \
                 not skies or skin), brightness only so colours never shift, and tuned through \
                 cropping, resizing and JPEG compression; invisible in our tests, but EXPERIMENTAL: \
                 it does not yet stop a model trained on real photos (EVALUATION.md); needs at \
                 least 2 photos.",
        uses_classes: true,
        in_app: true,
        training_based: true,
    },
    MethodInfo {
        method: MethodId::Conv,
        id: "conv",
        title: "Convolution filters",
        explain: "Gives every group of photos its own secret blur pattern (Sadasivan et al., 2023); \
                 instant, no training, but kept within the invisible strength it barely protected \
                 in our tests: the published result uses a much stronger, visible blur.",
        uses_classes: true,
        in_app: false,
        training_based: false,
    },
    MethodInfo {
        method: MethodId::Random,
        id: "random",
        title: "Random noise (control)",
        explain: "Adds plain random grain of the same strength; it does NOT protect and exists only \
                 to show the difference in tests.",
        uses_classes: false,
        in_app: true,
        training_based: false,
    },
];

impl MethodId {
    /// Every method, in the order menus list them.
    pub const ALL: [MethodId; 8] = {
        let mut all = [MethodId::Em; 8];
        let mut i = 0;
        while i < METHODS.len() {
            all[i] = METHODS[i].method;
            i += 1;
        }
        all
    };

    /// The method's registry entry.
    pub fn info(self) -> &'static MethodInfo {
        // Every variant has an entry (checked by a test), so the fallback is never taken.
        METHODS
            .iter()
            .find(|m| m.method == self)
            .unwrap_or(&METHODS[0])
    }

    /// The id as typed on the command line.
    pub fn id(self) -> &'static str {
        self.info().id
    }

    /// Parse an id.
    pub fn from_id(s: &str) -> Option<Self> {
        METHODS.iter().find(|m| m.id == s).map(|m| m.method)
    }

    /// Short display name.
    pub fn title(self) -> &'static str {
        self.info().title
    }

    /// One plain-language sentence: what it does, how strong, how slow, what it needs.
    pub fn explain(self) -> &'static str {
        self.info().explain
    }

    /// Whether the method's published result depends on photos being grouped into classes.
    pub fn uses_classes(self) -> bool {
        self.info().uses_classes
    }

    /// Whether the desktop app offers the method ([`MethodInfo::in_app`]).
    pub fn in_app(self) -> bool {
        self.info().in_app
    }

    /// Whether the method trains on the whole album before writing anything.
    pub fn is_training_based(self) -> bool {
        self.info().training_based
    }

    /// Fewest readable photos the method can protect (training-based methods learn from how
    /// photos differ, so they need at least two).
    pub fn min_photos(self) -> usize {
        if self.is_training_based() { 2 } else { 1 }
    }
}

impl std::fmt::Display for MethodId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_one_entry_with_its_own_id() {
        // A variant missing from the table would make this match fail to list it below.
        let variants = |m: MethodId| match m {
            MethodId::Em
            | MethodId::EmClass
            | MethodId::Conv
            | MethodId::Random
            | MethodId::Shield
            | MethodId::Rem
            | MethodId::Tue
            | MethodId::Clusters => m,
        };
        for m in [
            MethodId::Em,
            MethodId::EmClass,
            MethodId::Conv,
            MethodId::Random,
            MethodId::Shield,
            MethodId::Rem,
            MethodId::Tue,
            MethodId::Clusters,
        ] {
            let m = variants(m);
            assert_eq!(METHODS.iter().filter(|e| e.method == m).count(), 1, "{m:?}");
            assert_eq!(m.info().method, m);
            assert_eq!(MethodId::from_id(m.id()), Some(m));
            // The serialized id is the command-line id.
            assert_eq!(
                serde_json::to_value(m).ok(),
                Some(serde_json::json!(m.id()))
            );
        }
        assert_eq!(MethodId::ALL[0], MethodId::Em, "the default comes first");
        assert!(!MethodId::Conv.in_app() && MethodId::Random.in_app());
        assert_eq!(
            (MethodId::Random.min_photos(), MethodId::Em.min_photos()),
            (1, 2)
        );
    }
}
