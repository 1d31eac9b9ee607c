//! Uniform random noise in [−ε, ε]: the literature's control, which does *not* protect.

use super::{MethodContext, MethodId, Protector, photo_key};
use crate::error::MethodError;
use crate::imaging::{AlbumEntry, Planar};
use crate::rng::{Rng, derive_seed};

/// The random-noise control method.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomNoise;

impl Protector for RandomNoise {
    fn id(&self) -> MethodId {
        MethodId::Random
    }

    fn perturb(
        &self,
        work: &Planar,
        entry: &AlbumEntry,
        ctx: &MethodContext<'_>,
    ) -> Result<Planar, MethodError> {
        let mut rng = Rng::new(derive_seed(ctx.seed, &photo_key(entry), 0));
        let mut delta = Planar::zeros(work.width, work.height);
        delta
            .data
            .iter_mut()
            .for_each(|v| *v = rng.uniform(-ctx.epsilon, ctx.epsilon));
        Ok(delta)
    }
}
