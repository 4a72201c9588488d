//! The generation key: what makes two requests "the same image".

use sha2::{Digest, Sha256};

use crate::request::GenerationRequest;

/// The identity a local backend keys its images by: the model identity (architecture and
/// weights digest) plus where and at which precision it runs. CPU fp32 and GPU fp16 images of
/// one model differ by a few levels per pixel, so neither may be served for the other.
pub fn runtime_identity(model: &str, device: &str, dtype: &str) -> String {
    format!("{model}|device={device}|dtype={dtype}")
}

/// SHA-256 (hex) over the backend identity and every field that changes the image. Fields are
/// written length-prefixed in a fixed order, so no two different requests share an encoding;
/// a format version leads so a future change of meaning never reuses old entries.
///
/// `identity` is [`crate::Generator::identity`]; for the local engine that is a
/// [`runtime_identity`], so device and precision are part of the key.
pub fn generation_key(identity: &str, req: &GenerationRequest) -> String {
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &str| {
        h.update(name.as_bytes());
        h.update((value.len() as u64).to_le_bytes());
        h.update(value.as_bytes());
    };
    // v2: local identities carry device and precision.
    field("v", "2");
    field("identity", identity);
    field("prompt", &req.prompt);
    match &req.negative_prompt {
        Some(n) => field("negative", n),
        None => field("no-negative", ""),
    }
    field("seed", &req.seed.to_string());
    field("steps", &req.steps.to_string());
    // Bits, not decimal text: 7.5 and 7.50 are the same float, 7.5 and 7.5000001 are not.
    field("guidance", &req.guidance.to_bits().to_string());
    field("scheduler", req.scheduler.as_str());
    field("size", &format!("{}x{}", req.width, req.height));
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::NoiseScheduler;

    #[test]
    fn every_field_changes_the_key() {
        let base = GenerationRequest::new("a cat", 1);
        let k = generation_key("m", &base);
        assert_eq!(k.len(), 64);
        assert_eq!(k, generation_key("m", &base.clone()));
        type Edit = Box<dyn Fn(&mut GenerationRequest)>;
        let variants: Vec<Edit> = vec![
            Box::new(|r| r.prompt.push('!')),
            Box::new(|r| r.negative_prompt = Some(String::new())),
            Box::new(|r| r.seed += 1),
            Box::new(|r| r.steps += 1),
            Box::new(|r| r.guidance += 0.5),
            Box::new(|r| r.scheduler = NoiseScheduler::Ddim),
            Box::new(|r| r.width += 8),
            Box::new(|r| r.height += 8),
        ];
        for (i, v) in variants.iter().enumerate() {
            let mut r = base.clone();
            v(&mut r);
            assert_ne!(generation_key("m", &r), k, "variant {i}");
        }
        assert_ne!(generation_key("other-model", &base), k);
    }

    #[test]
    fn device_and_precision_change_the_key() {
        let req = GenerationRequest::new("a cat", 1);
        let model = "sd-unet[320, 640, 1280, 1280]@sha256:0123";
        let cpu = generation_key(&runtime_identity(model, "cpu", "fp32"), &req);
        let gpu16 = generation_key(&runtime_identity(model, "cuda", "fp16"), &req);
        let gpu_bf16 = generation_key(&runtime_identity(model, "cuda", "bf16"), &req);
        let gpu32 = generation_key(&runtime_identity(model, "cuda", "fp32"), &req);
        let keys = [&cpu, &gpu16, &gpu_bf16, &gpu32];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Stable for the same runtime, and distinct from the bare model identity.
        assert_eq!(
            cpu,
            generation_key(&runtime_identity(model, "cpu", "fp32"), &req)
        );
        assert_ne!(cpu, generation_key(model, &req));
    }

    #[test]
    fn prompt_boundaries_do_not_collide() {
        let mut a = GenerationRequest::new("ab", 1);
        a.negative_prompt = Some("c".into());
        let mut b = GenerationRequest::new("a", 1);
        b.negative_prompt = Some("bc".into());
        assert_ne!(generation_key("m", &a), generation_key("m", &b));
    }
}
