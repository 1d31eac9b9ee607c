//! Deterministic weight initialisation from a seed.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::rng::{Rng, derive_seed};

/// Replaces every weight tensor (rank ≥ 2) with Kaiming-uniform values (bound = √(6 / fan_in),
/// He et al. 2015, for ReLU networks) drawn from this crate's seeded RNG. Rank-1 parameters
/// (batch-norm scale/shift, biases initialised to constants) are left as they are.
struct SeededKaiming {
    rng: Rng,
}

impl ModuleMapper for SeededKaiming {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D < 2 {
            return param;
        }
        let rng = &mut self.rng;
        param.map(|t| {
            let dims = t.dims();
            let fan_in: usize = dims[1..].iter().product::<usize>().max(1);
            let bound = (6.0 / fan_in as f32).sqrt();
            let n: usize = dims.iter().product();
            let values: Vec<f32> = (0..n).map(|_| rng.uniform(-bound, bound)).collect();
            let fresh = Tensor::from_data(TensorData::new(values, dims), &t.device());
            // A new tensor does not inherit the parameter's gradient requirement: carry it over,
            // or the weights would silently stay frozen during training.
            if t.is_require_grad() {
                fresh.require_grad()
            } else {
                fresh
            }
        })
    }
}

/// Re-initialise all weights of `module` from `seed`.
pub fn seeded_init<M: Module>(module: M, seed: u64) -> M {
    let mut mapper = SeededKaiming {
        rng: Rng::new(derive_seed(seed, "surrogate-init", 0)),
    };
    module.map(&mut mapper)
}
