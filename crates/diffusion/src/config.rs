//! The config.json files of a diffusers folder, with diffusers' own defaults for absent
//! fields, so the architecture comes from the folder and not from hard-coded sizes.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{DiffusionError, Result, io_err};

/// A value that diffusers accepts either as one number or as one per block.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(i64),
    Many(Vec<i64>),
}

impl OneOrMany {
    /// The per-block list for `n` blocks.
    pub fn per_block(&self, n: usize) -> Vec<i64> {
        match self {
            OneOrMany::One(v) => vec![*v; n],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, "config", e))?;
    serde_json::from_str(&text).map_err(|e| DiffusionError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// A field diffusers writes as `null` when it means its default.
fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn d_true() -> bool {
    true
}
fn d_32() -> i64 {
    32
}
fn d_eps() -> f64 {
    1e-5
}
fn d_one() -> OneOrMany {
    OneOrMany::One(1)
}
fn d_heads() -> OneOrMany {
    OneOrMany::One(8)
}
fn d_4() -> i64 {
    4
}
fn d_1() -> i64 {
    1
}
fn d_2() -> i64 {
    2
}

/// `unet/config.json` (UNet2DConditionModel).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct UNetConfig {
    #[serde(default = "d_4")]
    pub in_channels: i64,
    #[serde(default = "d_4")]
    pub out_channels: i64,
    pub block_out_channels: Vec<i64>,
    #[serde(default = "d_2")]
    pub layers_per_block: i64,
    pub down_block_types: Vec<String>,
    pub up_block_types: Vec<String>,
    #[serde(default)]
    pub mid_block_type: Option<String>,
    pub cross_attention_dim: i64,
    /// In SD 1.x/2.x configs this is really the number of heads (a diffusers quirk).
    #[serde(default = "d_heads")]
    pub attention_head_dim: OneOrMany,
    #[serde(default)]
    pub num_attention_heads: Option<OneOrMany>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub use_linear_projection: bool,
    /// `null` in SDXL's published config.
    #[serde(default, deserialize_with = "null_as_default")]
    pub upcast_attention: bool,
    #[serde(default = "d_32")]
    pub norm_num_groups: i64,
    #[serde(default = "d_eps")]
    pub norm_eps: f64,
    #[serde(default = "d_true")]
    pub flip_sin_to_cos: bool,
    #[serde(default)]
    pub freq_shift: i64,
    #[serde(default = "d_one")]
    pub transformer_layers_per_block: OneOrMany,
    #[serde(default = "d_1")]
    pub downsample_padding: i64,
    #[serde(default)]
    pub addition_embed_type: Option<String>,
    /// SDXL (`addition_embed_type = "text_time"`): width of each size/crop id's sinusoidal
    /// embedding (256), and of the pooled text embedding plus all six of them (2816).
    #[serde(default)]
    pub addition_time_embed_dim: Option<i64>,
    #[serde(default)]
    pub projection_class_embeddings_input_dim: Option<i64>,
    #[serde(default)]
    pub class_embed_type: Option<String>,
    #[serde(default)]
    pub time_cond_proj_dim: Option<i64>,
    #[serde(default)]
    pub sample_size: Option<i64>,
}

impl UNetConfig {
    /// Heads per down block, resolving the `attention_head_dim` quirk the way diffusers does.
    pub fn heads(&self) -> Vec<i64> {
        let n = self.block_out_channels.len();
        self.num_attention_heads
            .as_ref()
            .unwrap_or(&self.attention_head_dim)
            .per_block(n)
    }

    pub fn validate(&self, path: &Path) -> Result<()> {
        let n = self.block_out_channels.len();
        let bad = |m: String| DiffusionError::Config {
            path: path.to_path_buf(),
            message: m,
        };
        if n == 0 || self.down_block_types.len() != n || self.up_block_types.len() != n {
            return Err(bad(
                "block_out_channels, down_block_types and up_block_types must have equal, non-zero length".into(),
            ));
        }
        if self.heads().len() != n || self.transformer_layers_per_block.per_block(n).len() != n {
            return Err(bad("per-block lists must match block_out_channels".into()));
        }
        match self.addition_embed_type.as_deref() {
            None => {}
            Some("text_time")
                if self.addition_time_embed_dim.is_none()
                    || self.projection_class_embeddings_input_dim.is_none() =>
            {
                return Err(bad(
                    "addition_embed_type \"text_time\" needs addition_time_embed_dim and projection_class_embeddings_input_dim".into(),
                ));
            }
            Some("text_time") => {}
            Some(other) => {
                return Err(DiffusionError::Unsupported(format!(
                    "UNet addition_embed_type `{other}` (only SDXL's \"text_time\" is supported)"
                )));
            }
        }
        if self.class_embed_type.is_some() {
            return Err(DiffusionError::Unsupported(
                "UNets with class embeddings are not supported yet".into(),
            ));
        }
        if self.time_cond_proj_dim.is_some() {
            return Err(DiffusionError::Unsupported(
                "LCM-distilled UNets (time_cond_proj_dim) are not supported yet".into(),
            ));
        }
        Ok(())
    }
}

fn d_vae_sf() -> f64 {
    0.18215
}
fn d_3() -> i64 {
    3
}

/// `vae/config.json` (AutoencoderKL).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct VaeConfig {
    #[serde(default = "d_3")]
    pub in_channels: i64,
    #[serde(default = "d_3")]
    pub out_channels: i64,
    pub block_out_channels: Vec<i64>,
    #[serde(default = "d_1")]
    pub layers_per_block: i64,
    #[serde(default = "d_4")]
    pub latent_channels: i64,
    #[serde(default = "d_32")]
    pub norm_num_groups: i64,
    #[serde(default = "d_vae_sf")]
    pub scaling_factor: f64,
    #[serde(default = "d_true")]
    pub force_upcast: bool,
    #[serde(default = "d_true")]
    pub use_quant_conv: bool,
    #[serde(default = "d_true")]
    pub use_post_quant_conv: bool,
    #[serde(default = "d_true")]
    pub mid_block_add_attention: bool,
}

impl VaeConfig {
    /// Image pixels per latent pixel along one side.
    pub fn scale_factor(&self) -> i64 {
        1 << (self.block_out_channels.len().max(1) - 1)
    }
}

fn d_act() -> String {
    "quick_gelu".into()
}
fn d_77() -> i64 {
    77
}

/// `text_encoder/config.json` (transformers CLIPTextModel).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ClipConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    #[serde(default = "d_77")]
    pub max_position_embeddings: i64,
    #[serde(default = "d_act")]
    pub hidden_act: String,
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    /// transformers' class: `CLIPTextModelWithProjection` (SDXL's second encoder) carries a
    /// `text_projection` to `projection_dim`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub projection_dim: Option<i64>,
    #[serde(default)]
    pub eos_token_id: Option<i64>,
}

impl ClipConfig {
    pub fn with_projection(&self) -> bool {
        self.architectures
            .iter()
            .any(|a| a == "CLIPTextModelWithProjection")
    }
}

fn d_1000() -> i64 {
    1000
}
fn d_beta_start() -> f64 {
    0.0001
}
fn d_beta_end() -> f64 {
    0.02
}
fn d_linear() -> String {
    "linear".into()
}
fn d_eps_pred() -> String {
    "epsilon".into()
}

/// `scheduler/scheduler_config.json`: the noise schedule shared by all samplers. Fields a
/// particular diffusers scheduler class defaults differently are `Option`s.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SchedulerConfig {
    #[serde(default)]
    pub _class_name: Option<String>,
    #[serde(default = "d_1000")]
    pub num_train_timesteps: i64,
    #[serde(default = "d_beta_start")]
    pub beta_start: f64,
    #[serde(default = "d_beta_end")]
    pub beta_end: f64,
    #[serde(default = "d_linear")]
    pub beta_schedule: String,
    #[serde(default = "d_eps_pred")]
    pub prediction_type: String,
    /// Absent in older configs; see [`SchedulerConfig::spacing`].
    #[serde(default)]
    pub timestep_spacing: Option<String>,
    #[serde(default)]
    pub steps_offset: i64,
    #[serde(default)]
    pub set_alpha_to_one: Option<bool>,
    #[serde(default)]
    pub clip_sample: Option<bool>,
    #[serde(default)]
    pub clip_sample_range: Option<f64>,
    #[serde(default)]
    pub rescale_betas_zero_snr: bool,
}

impl SchedulerConfig {
    /// The timestep spacing: the config's, or when the key is absent (SD 1.5's published
    /// PNDM config and other older ones) the default of the scheduler class *chosen*, as
    /// diffusers' `from_config` does (it drops keys the writing class only defaulted, listed
    /// in `_use_default_values`): "leading" for DDIM, "linspace" for Euler, Euler ancestral
    /// and DPM-Solver++.
    pub fn spacing_for(&self, scheduler: pressroom_core::NoiseScheduler) -> &str {
        use pressroom_core::NoiseScheduler as S;
        match (&self.timestep_spacing, scheduler) {
            (_, S::Turbo) => "trailing",
            (Some(s), _) => s,
            (None, S::Ddim) => "leading",
            (None, S::Euler | S::EulerAncestral | S::DpmPp2m) => "linspace",
        }
    }

    /// This config with its spacing resolved for `scheduler` (see [`Self::spacing_for`]).
    pub fn resolved_for(&self, scheduler: pressroom_core::NoiseScheduler) -> SchedulerConfig {
        let mut c = self.clone();
        c.timestep_spacing = Some(self.spacing_for(scheduler).to_string());
        c
    }

    /// The spacing of a config resolved by [`Self::resolved_for`] ("leading" if it was not).
    pub fn spacing(&self) -> &str {
        self.timestep_spacing.as_deref().unwrap_or("leading")
    }
}

/// `model_index.json`, only to check the folder is a pipeline we understand.
#[derive(Clone, Debug, Deserialize)]
pub struct ModelIndex {
    #[serde(default)]
    pub _class_name: Option<String>,
    /// SDXL pipelines: zeros, not the encoding of "", for a missing negative prompt.
    #[serde(default = "d_true")]
    pub force_zeros_for_empty_prompt: bool,
}
