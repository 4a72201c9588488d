//! The generation key: what makes two requests "the same image".

use sha2::{Digest, Sha256};

use crate::request::GenerationRequest;

/// SHA-256 (hex) over the model identity and every field that changes the image. Fields are
/// written length-prefixed in a fixed order, so no two different requests share an encoding;
/// a format version leads so a future change of meaning never reuses old entries.
pub fn generation_key(identity: &str, req: &GenerationRequest) -> String {
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &str| {
        h.update(name.as_bytes());
        h.update((value.len() as u64).to_le_bytes());
        h.update(value.as_bytes());
    };
    field("v", "1");
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
    use crate::request::SchedulerKind;

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
            Box::new(|r| r.scheduler = SchedulerKind::Ddim),
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
    fn prompt_boundaries_do_not_collide() {
        let mut a = GenerationRequest::new("ab", 1);
        a.negative_prompt = Some("c".into());
        let mut b = GenerationRequest::new("a", 1);
        b.negative_prompt = Some("bc".into());
        assert_ne!(generation_key("m", &a), generation_key("m", &b));
    }
}
