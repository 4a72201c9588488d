//! Reading `[generation]`: backend, prompts and the numbers the engine accepts.

use super::reader::{Reader, Sink};
use super::spec::{BACKENDS, GenerationSpec, NoiseScheduler, Seed};
use super::template_check::read_template;

pub(crate) fn read_generation(
    mut table: Reader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Option<GenerationSpec> {
    let backend = match table.get("backend") {
        None => Some(GenerationSpec::DEFAULT_BACKEND.to_owned()),
        Some(item) => item.string(sink).and_then(|s| {
            if BACKENDS.contains(&s.get_ref().as_str()) {
                Some(s.into_inner())
            } else {
                sink.push(
                    s.span(),
                    &item.path,
                    format!(
                        "unknown backend `{}`, expected one of {}",
                        s.get_ref(),
                        quoted(BACKENDS)
                    ),
                );
                None
            }
        }),
    };
    let model = match table.get("model") {
        None => Some(None),
        Some(item) => item.string(sink).and_then(|s| {
            if s.get_ref().trim().is_empty() {
                sink.push(
                    s.span(),
                    &item.path,
                    "must not be empty (omit it for the default model)",
                );
                None
            } else {
                Some(Some(s.into_inner()))
            }
        }),
    };
    // Required unless [[generation.slides]] give one prompt per image.
    let has_slides = table.get("slides").is_some();
    let prompt = read_template(&mut table, sink, "prompt", "prompt_file", !has_slides);
    let negative_prompt = read_template(
        &mut table,
        sink,
        "negative_prompt",
        "negative_prompt_file",
        false,
    );

    let steps = read_u32(
        &mut table,
        sink,
        "steps",
        GenerationSpec::DEFAULT_STEPS,
        1,
        GenerationSpec::MAX_STEPS,
        "",
    );
    let size_from_targets = table.get("width").is_none() && table.get("height").is_none();
    let width = read_size(&mut table, sink, "width");
    let height = read_size(&mut table, sink, "height");
    let guidance = match table.get("guidance") {
        None => Some(GenerationSpec::DEFAULT_GUIDANCE),
        Some(item) => item.float(sink).and_then(|g| {
            let value = *g.get_ref();
            if (0.0..=f64::from(GenerationSpec::MAX_GUIDANCE)).contains(&value) {
                Some(value as f32)
            } else {
                sink.push(
                    g.span(),
                    &item.path,
                    format!(
                        "must be between 0 and {} (got {value})",
                        GenerationSpec::MAX_GUIDANCE
                    ),
                );
                None
            }
        }),
    };
    let scheduler = match table.get("scheduler") {
        None => Some(NoiseScheduler::Ddim),
        Some(item) => item.string(sink).and_then(|s| {
            let found = NoiseScheduler::from_name(s.get_ref());
            if found.is_none() {
                let names: Vec<&str> = NoiseScheduler::ALL.iter().map(|n| n.as_str()).collect();
                sink.push(
                    s.span(),
                    &item.path,
                    format!(
                        "unknown scheduler `{}`, expected one of {}",
                        s.get_ref(),
                        quoted(&names)
                    ),
                );
            }
            found
        }),
    };
    let seed = read_seed(&mut table, sink);
    let images_item = table.get("images").is_some();
    let images = read_u32(
        &mut table,
        sink,
        "images",
        1,
        1,
        GenerationSpec::MAX_IMAGES,
        " images per run",
    );
    let slides = match table.get("slides") {
        None => Some(Vec::new()),
        Some(item) => read_slides(&item, sink),
    };
    if images_item && slides.as_ref().is_some_and(|s| !s.is_empty()) {
        let span = table
            .get("images")
            .map_or_else(|| table.span(), |i| i.span());
        sink.push(
            span,
            &table.child_path("images"),
            "give either `images` or [[generation.slides]], not both",
        );
    }
    // The local engine decodes at most MAX_LOCAL_PIXELS per image (memory); say so at save,
    // not when the run fails.
    if let (Some(b), Some(w), Some(h)) = (&backend, width, height)
        && b == "local"
        && u64::from(w) * u64::from(h) > GenerationSpec::MAX_LOCAL_PIXELS
    {
        let span = table
            .get("width")
            .or_else(|| table.get("height"))
            .map_or_else(|| table.span(), |i| i.span());
        sink.push(
            span,
            &table.child_path("width"),
            format!(
                "{w}×{h} is over the local engine's {} pixels (1536×1536): generate smaller and let the renditions scale up",
                GenerationSpec::MAX_LOCAL_PIXELS
            ),
        );
    }
    table.finish(sink);

    // Every field was read (and reported) above; `?` only assembles. With slides and no
    // `prompt`, the first slide's is the run's prompt (what runs and reviews show).
    let slides = slides?;
    let prompt = match prompt? {
        Some(p) => p,
        None => slides.first()?.clone(),
    };
    Some(GenerationSpec {
        backend: backend?,
        model: model?,
        prompt,
        negative_prompt: negative_prompt?,
        steps: steps?,
        guidance: guidance?,
        scheduler: scheduler?,
        width: width?,
        height: height?,
        seed: seed?,
        images: images?,
        slides,
        size_from_targets,
    })
}

/// `[[generation.slides]]`: one prompt per image (`prompt` or `prompt_file`), at most
/// [`GenerationSpec::MAX_IMAGES`].
fn read_slides(item: &super::reader::Item<'_, '_>, sink: &mut Sink<'_>) -> Option<Vec<String>> {
    let array = item.array(sink)?;
    if array.is_empty() || array.len() > GenerationSpec::MAX_IMAGES as usize {
        sink.push(
            item.span(),
            &item.path,
            format!(
                "must hold 1 to {} slides (got {})",
                GenerationSpec::MAX_IMAGES,
                array.len()
            ),
        );
        return None;
    }
    let mut slides = Vec::new();
    let mut complete = true;
    for (index, value) in array.iter().enumerate() {
        let element = super::reader::Item {
            path: format!("{}[{index}]", item.path),
            value,
        };
        let Some(mut table) = element.table(sink) else {
            complete = false;
            continue;
        };
        match read_template(&mut table, sink, "prompt", "prompt_file", true).flatten() {
            Some(prompt) => slides.push(prompt),
            None => complete = false,
        }
        table.finish(sink);
    }
    complete.then_some(slides)
}

/// An optional integer in `[min, max]`; `hint` is appended to the range message.
fn read_u32(
    table: &mut Reader<'_, '_>,
    sink: &mut Sink<'_>,
    key: &'static str,
    default: u32,
    min: u32,
    max: u32,
    hint: &str,
) -> Option<u32> {
    let Some(item) = table.get(key) else {
        return Some(default);
    };
    let n = item.integer(sink)?;
    let value = *n.get_ref();
    if value < i128::from(min) || value > i128::from(max) {
        sink.push(
            n.span(),
            &item.path,
            format!("must be between {min} and {max}{hint} (got {value})"),
        );
        return None;
    }
    u32::try_from(value).ok()
}

/// Image sides: the UNet and VAE work on 8-pixel latents, so sides must be multiples of 8.
fn read_size(table: &mut Reader<'_, '_>, sink: &mut Sink<'_>, key: &'static str) -> Option<u32> {
    let value = read_u32(
        table,
        sink,
        key,
        GenerationSpec::DEFAULT_SIZE,
        GenerationSpec::MIN_SIZE,
        GenerationSpec::MAX_SIZE,
        " pixels",
    )?;
    if value % 8 != 0 {
        let span = table.get(key).map_or_else(|| table.span(), |i| i.span());
        sink.push(
            span,
            &table.child_path(key),
            format!("must be a multiple of 8 (got {value})"),
        );
        return None;
    }
    Some(value)
}

/// `seed = 42` for reproducible images, `seed = "random"` (the default) for a new one
/// each run.
fn read_seed(table: &mut Reader<'_, '_>, sink: &mut Sink<'_>) -> Option<Seed> {
    let Some(item) = table.get("seed") else {
        return Some(Seed::Random);
    };
    if let Some(text) = item.value.get_ref().as_str() {
        if text == "random" {
            return Some(Seed::Random);
        }
        sink.push(item.span(), &item.path, "expected an integer or \"random\"");
        return None;
    }
    let n = item.integer(sink)?;
    match u64::try_from(*n.get_ref()) {
        Ok(seed) => Some(Seed::Fixed(seed)),
        Err(_) => {
            sink.push(
                n.span(),
                &item.path,
                "must be between 0 and 18446744073709551615",
            );
            None
        }
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
