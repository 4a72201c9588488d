//! The one trait every image backend implements.

use crate::error::GenerateError;
use crate::request::{GeneratedImage, GenerationRequest, NativeSize, ProgressFn};

#[async_trait::async_trait]
pub trait Generator: Send + Sync {
    /// Stable identity of the model incl. a weights digest; part of the cache key, so two
    /// backends that could answer the same request differently must differ here.
    fn identity(&self) -> String;

    /// Whether the negative prompt reaches the model as ordinary prompt text (OpenAI has no
    /// negative prompt, so the client appends it as "Avoid: …") rather than as a separate
    /// input the model steers away from. The prompt policy checks it only then.
    fn negative_prompt_is_prompt_text(&self) -> bool {
        false
    }

    /// The sizes the model composes best at, when the backend runs a model of known family
    /// (the local engine); remote APIs have their own fixed sizes and answer None.
    fn native_size(&self) -> Option<NativeSize> {
        None
    }

    /// Checks `req` against this backend's rules (the prompt policy) without generating.
    /// Callers that reuse an image stored for an identical earlier request ask this first,
    /// so a term blocked since then is refused there too.
    fn admit(&self, _req: &GenerationRequest) -> Result<(), GenerateError> {
        Ok(())
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError>;

    /// [`Generator::generate`] on behalf of `tenant` (a workspace id): a backend whose queue
    /// tenants share (the local engine) serves them in turn; others ignore it. Wrappers must
    /// forward it, or their tenants share one turn.
    async fn generate_for(
        &self,
        tenant: &str,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        let _ = tenant;
        self.generate(req, progress).await
    }
}

#[async_trait::async_trait]
impl<G: Generator + ?Sized> Generator for std::sync::Arc<G> {
    fn identity(&self) -> String {
        (**self).identity()
    }

    fn negative_prompt_is_prompt_text(&self) -> bool {
        (**self).negative_prompt_is_prompt_text()
    }

    fn admit(&self, req: &GenerationRequest) -> Result<(), GenerateError> {
        (**self).admit(req)
    }

    fn native_size(&self) -> Option<NativeSize> {
        (**self).native_size()
    }

    async fn generate(
        &self,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        (**self).generate(req, progress).await
    }

    async fn generate_for(
        &self,
        tenant: &str,
        req: GenerationRequest,
        progress: Option<ProgressFn>,
    ) -> Result<GeneratedImage, GenerateError> {
        (**self).generate_for(tenant, req, progress).await
    }
}
