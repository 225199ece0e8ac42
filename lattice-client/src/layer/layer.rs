use tower_layer::Layer;

use super::SigV4;
use crate::signer::Signer;

/// Applies [`SigV4`] signing to a service. Cheap to clone.
///
/// See the [module docs](crate::layer) for an example.
#[derive(Clone, Debug)]
pub struct SigV4Layer {
    signer: Signer,
}

// === impl SigV4Layer ===

impl SigV4Layer {
    /// A layer that signs with `signer`.
    pub fn new(signer: Signer) -> Self {
        Self { signer }
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }
}

impl<S> Layer<S> for SigV4Layer {
    type Service = SigV4<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SigV4::new(inner, self.signer.clone())
    }
}
