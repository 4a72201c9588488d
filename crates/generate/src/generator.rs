//! The one trait every image backend implements.

use crate::error::GenerateError;
use crate::request::{GeneratedImage, GenerationRequest, ProgressFn};

#[async_trait::async_trait]
pub trait Generator: Send + Sync {
    /// Stable identity of the model incl. a weights digest; part of the cache key, so two
    /// backends that could answer the same request differently must differ here.
    fn identity(&self) -> String;

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError>;
}

#[async_trait::async_trait]
impl<G: Generator + ?Sized> Generator for std::sync::Arc<G> {
    fn identity(&self) -> String {
        (**self).identity()
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        (**self).generate(req, progress).await
    }
}
