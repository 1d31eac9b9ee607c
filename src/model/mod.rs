//! Surrogate classifiers for training-based methods, as Burn modules with configs.
//!
//! Weights are initialised from a seed by this crate (not by the device's global RNG), so the
//! same seed gives the same network on every run, even when several jobs run at once.

mod init;
mod medium_cnn;
mod resnet;
mod simclr;
mod small_cnn;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use init::seeded_init;
pub use medium_cnn::{MediumCnn, MediumCnnConfig};
pub use resnet::{ResNet18, ResNet18Config};
pub use simclr::{SimClr, nt_xent, unit_rows};
pub use small_cnn::{SmallCnn, SmallCnnConfig};

/// Which surrogate architecture to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SurrogateKind {
    /// Three conv/BN/ReLU stages + global pooling: fast, the CPU default.
    #[default]
    SmallCnn,
    /// Five conv/BN/ReLU layers with max-pooling: the CPU evaluation classifier.
    MediumCnn,
    /// CIFAR-style ResNet-18 (parity with the papers), the GPU default.
    Resnet18,
}

/// A surrogate network of either kind.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one instance per job
pub enum Surrogate {
    /// [`SmallCnn`].
    Small(SmallCnn),
    /// [`MediumCnn`].
    Medium(MediumCnn),
    /// [`ResNet18`].
    ResNet(ResNet18),
}

impl Surrogate {
    /// A freshly initialised network for `num_classes` classes, weights drawn from `seed`.
    pub fn new(kind: SurrogateKind, num_classes: usize, seed: u64, device: &Device) -> Self {
        let net = match kind {
            SurrogateKind::SmallCnn => {
                Surrogate::Small(SmallCnnConfig::new(num_classes).init(device))
            }
            SurrogateKind::MediumCnn => {
                Surrogate::Medium(MediumCnnConfig::new(num_classes).init(device))
            }
            SurrogateKind::Resnet18 => {
                Surrogate::ResNet(ResNet18Config::new(num_classes).init(device))
            }
        };
        seeded_init(net, seed)
    }

    /// Class scores.
    ///
    /// # Shapes
    /// - `x`: `[batch, 3, height, width]`, values in `[0, 1]`
    /// - returns: `[batch, num_classes]` logits
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Surrogate::Small(m) => m.forward(x),
            Surrogate::Medium(m) => m.forward(x),
            Surrogate::ResNet(m) => m.forward(x),
        }
    }

    /// The penultimate features (what the classifier head reads).
    ///
    /// # Shapes
    /// - `x`: `[batch, 3, height, width]`, values in `[0, 1]`
    /// - returns: `[batch, features]`
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Surrogate::Small(m) => m.features(x),
            Surrogate::Medium(m) => m.features(x),
            Surrogate::ResNet(m) => m.features(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn logits(kind: SurrogateKind, seed: u64) -> Vec<f32> {
        let device = Device::flex();
        let net = Surrogate::new(kind, 4, seed, &device).valid();
        let x: Vec<f32> = (0..2 * 3 * 16 * 16)
            .map(|i| ((i * 31) % 97) as f32 / 97.0)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(x, [2, 3, 16, 16]), &device);
        net.forward(x).into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn both_surrogates_give_one_score_per_class_and_are_seeded() {
        for kind in [
            SurrogateKind::SmallCnn,
            SurrogateKind::MediumCnn,
            SurrogateKind::Resnet18,
        ] {
            let a = logits(kind, 1);
            assert_eq!(a.len(), 2 * 4, "{kind:?}");
            assert!(a.iter().all(|v| v.is_finite()));
            assert_eq!(a, logits(kind, 1), "{kind:?}: same seed, same network");
            assert_ne!(a, logits(kind, 2), "{kind:?}: other seed, other network");
        }
    }
}

#[cfg(test)]
mod grad_tests {
    use super::*;
    use burn::module::{ModuleVisitor, Param};

    struct CountTrainable {
        weights: usize,
        trainable_weights: usize,
    }

    impl ModuleVisitor for CountTrainable {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if D >= 2 {
                self.weights += 1;
                if param.val().is_require_grad() {
                    self.trainable_weights += 1;
                }
            }
        }
    }

    #[test]
    fn seeded_weights_stay_trainable_on_an_autodiff_device() {
        // Regression: replacing a parameter's tensor must keep its gradient requirement,
        // otherwise every conv and linear weight silently stays frozen.
        for kind in [
            SurrogateKind::SmallCnn,
            SurrogateKind::MediumCnn,
            SurrogateKind::Resnet18,
        ] {
            let net = Surrogate::new(kind, 3, 5, &Device::flex().autodiff());
            let mut count = CountTrainable {
                weights: 0,
                trainable_weights: 0,
            };
            net.visit(&mut count);
            assert!(count.weights >= 4, "{kind:?}");
            assert_eq!(count.trainable_weights, count.weights, "{kind:?}");
        }
    }
}
