//! Samplers: the update rules that walk latents from noise to an image, each a port of the
//! corresponding diffusers scheduler (DDIM, Euler, Euler ancestral, DPM-Solver++ 2M Karras)
//! driven by the model's own `scheduler_config.json`.

pub mod schedule;

/// The sampler names users pick from: the product's one enum, from `pressroom-core`.
pub use pressroom_core::{NoiseScheduler, UnknownScheduler};

use tch::{Kind, Tensor};

use crate::config::SchedulerConfig;
use crate::error::{DiffusionError, Result};
use schedule::{
    alphas_cumprod, discrete_timesteps, float_timesteps, interp, karras_sigmas, sigma_to_t,
    train_sigmas,
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Prediction {
    Epsilon,
    VPrediction,
}

enum Rule {
    /// η = 0 DDIM in ᾱ space.
    Ddim {
        ac: Vec<f64>,
        final_ac: f64,
        stride: i64,
        clip: Option<f64>,
    },
    /// Euler (optionally ancestral) in σ space; `sigmas` has a trailing 0.
    Euler { sigmas: Vec<f64>, ancestral: bool },
    /// DPM-Solver++ (2M, midpoint) in σ space with the previous x₀ kept.
    DpmPp2m {
        sigmas: Vec<f64>,
        prev_x0: Option<Tensor>,
    },
}

/// One sampling run: timesteps plus the state of the update rule.
pub struct Sampler {
    kind: NoiseScheduler,
    timesteps: Vec<f64>,
    init_noise_sigma: f64,
    prediction: Prediction,
    rule: Rule,
}

impl Sampler {
    pub fn new(kind: NoiseScheduler, config: &SchedulerConfig, steps: usize) -> Result<Self> {
        if steps == 0 || steps as i64 > config.num_train_timesteps {
            return Err(DiffusionError::InvalidRequest(format!(
                "steps must be between 1 and {}",
                config.num_train_timesteps
            )));
        }
        let prediction = match config.prediction_type.as_str() {
            "epsilon" => Prediction::Epsilon,
            "v_prediction" => Prediction::VPrediction,
            other => {
                return Err(DiffusionError::Unsupported(format!(
                    "prediction_type `{other}`"
                )));
            }
        };
        let config = config.resolved_for(kind);
        let mut ac = alphas_cumprod(&config)?;
        if config.rescale_betas_zero_snr
            && let Some(last) = ac.last_mut()
        {
            // Zero terminal SNR makes ᾱ_T = 0 and σ_T infinite; diffusers' Euler and DPM++
            // schedulers clamp ᾱ_T to 2⁻²⁴ (DDIM keeps the 0: it never divides by it).
            if kind != NoiseScheduler::Ddim {
                *last = 2f64.powi(-24);
            }
        }
        let ac = ac;
        let (timesteps, init_noise_sigma, rule) = match kind {
            NoiseScheduler::Ddim => {
                let ts = discrete_timesteps(&config, steps)?;
                ddim_timesteps_in_range(&config, steps, &ts)?;
                let final_ac = if config.set_alpha_to_one.unwrap_or(true) {
                    1.0
                } else {
                    ac[0]
                };
                let clip = if config.clip_sample.unwrap_or(true) {
                    Some(config.clip_sample_range.unwrap_or(1.0))
                } else {
                    None
                };
                let stride = config.num_train_timesteps / steps as i64;
                (
                    ts.iter().map(|&t| t as f64).collect(),
                    1.0,
                    Rule::Ddim {
                        ac,
                        final_ac,
                        stride,
                        clip,
                    },
                )
            }
            NoiseScheduler::Euler | NoiseScheduler::EulerAncestral | NoiseScheduler::Turbo => {
                let ts = float_timesteps(&config, steps)?;
                let train = train_sigmas(&ac);
                let mut sigmas: Vec<f64> = ts
                    .iter()
                    .map(|&t| interp(t, &train) as f32 as f64)
                    .collect();
                sigmas.push(0.0);
                let max = sigmas.iter().copied().fold(0.0, f64::max);
                let init = if matches!(config.spacing(), "linspace" | "trailing") {
                    max
                } else {
                    (max * max + 1.0).sqrt()
                };
                let ancestral = kind != NoiseScheduler::Euler;
                (ts, init, Rule::Euler { sigmas, ancestral })
            }
            NoiseScheduler::DpmPp2m => {
                let train = train_sigmas(&ac);
                let logs: Vec<f64> = train.iter().map(|s| s.ln()).collect();
                let (smin, smax) = (train[0], train[train.len() - 1]);
                let mut sigmas = karras_sigmas(smin, smax, steps);
                let ts = sigmas
                    .iter()
                    .map(|&s| {
                        let t = sigma_to_t(s, &logs);
                        if config.beta_schedule == "squaredcos_cap_v2" {
                            t.trunc()
                        } else {
                            t.round_ties_even()
                        }
                    })
                    .collect();
                sigmas = sigmas.into_iter().map(|s| s as f32 as f64).collect();
                sigmas.push(0.0);
                (
                    ts,
                    1.0,
                    Rule::DpmPp2m {
                        sigmas,
                        prev_x0: None,
                    },
                )
            }
        };
        Ok(Self {
            kind,
            timesteps,
            init_noise_sigma,
            prediction,
            rule,
        })
    }

    pub fn kind(&self) -> NoiseScheduler {
        self.kind
    }

    /// Timesteps to feed the UNet, one per step, largest first.
    pub fn timesteps(&self) -> &[f64] {
        &self.timesteps
    }

    /// Factor applied to the initial unit-variance noise.
    pub fn init_noise_sigma(&self) -> f64 {
        self.init_noise_sigma
    }

    /// Whether [`Sampler::step`] consumes fresh noise.
    pub fn needs_noise(&self) -> bool {
        matches!(
            self.rule,
            Rule::Euler {
                ancestral: true,
                ..
            }
        )
    }

    /// The UNet input for step `i` (σ-space samplers divide by √(σ²+1)).
    pub fn scale_model_input(&self, x: &Tensor, i: usize) -> Tensor {
        match &self.rule {
            Rule::Euler { sigmas, .. } => x / (sigmas[i] * sigmas[i] + 1.0).sqrt(),
            _ => x.shallow_clone(),
        }
    }

    /// One denoising step from `x` (at step `i`) given the model output. `noise` is called
    /// once by ancestral samplers for fresh noise of `x`'s shape.
    pub fn step(
        &mut self,
        out: &Tensor,
        i: usize,
        x: &Tensor,
        noise: &mut dyn FnMut() -> Tensor,
    ) -> Tensor {
        let pred = self.prediction;
        let t = self.timesteps[i];
        match &mut self.rule {
            Rule::Ddim {
                ac,
                final_ac,
                stride,
                clip,
            } => {
                let a_t = ac[t as usize];
                let prev = t as i64 - *stride;
                let a_prev = if prev >= 0 {
                    ac[prev as usize]
                } else {
                    *final_ac
                };
                let (x0, eps) = match pred {
                    Prediction::Epsilon => (
                        (x - out * (1.0 - a_t).sqrt()) / a_t.sqrt(),
                        out.shallow_clone(),
                    ),
                    Prediction::VPrediction => (
                        x * a_t.sqrt() - out * (1.0 - a_t).sqrt(),
                        out * a_t.sqrt() + x * (1.0 - a_t).sqrt(),
                    ),
                };
                let x0 = match clip {
                    Some(r) => x0.clamp(-*r, *r),
                    None => x0,
                };
                x0 * a_prev.sqrt() + eps * (1.0 - a_prev).sqrt()
            }
            Rule::Euler { sigmas, ancestral } => {
                let (s, s_next) = (sigmas[i], sigmas[i + 1]);
                let x0 = match pred {
                    Prediction::Epsilon => x - out * s,
                    Prediction::VPrediction => {
                        out * (-s / (s * s + 1.0).sqrt()) + x / (s * s + 1.0)
                    }
                };
                let d = (x - &x0) / s;
                if *ancestral {
                    let up = (s_next * s_next * (s * s - s_next * s_next) / (s * s)).sqrt();
                    let down = (s_next * s_next - up * up).sqrt();
                    let prev = x + d * (down - s);
                    prev + noise() * up
                } else {
                    x + d * (s_next - s)
                }
            }
            Rule::DpmPp2m { sigmas, prev_x0 } => {
                let alpha_sigma = |s: f64| {
                    let a = 1.0 / (s * s + 1.0).sqrt();
                    (a, s * a)
                };
                let (s0, s_t) = (sigmas[i], sigmas[i + 1]);
                let (a0, sg0) = alpha_sigma(s0);
                let x0 = match pred {
                    Prediction::Epsilon => (x - out * sg0) / a0,
                    Prediction::VPrediction => x * a0 - out * sg0,
                };
                let last = i + 1 == self.timesteps.len();
                let next = if s_t == 0.0 {
                    // Final σ = 0: the first-order update reduces to x₀.
                    x0.shallow_clone()
                } else {
                    let (at, st) = alpha_sigma(s_t);
                    let lam = |a: f64, s: f64| a.ln() - s.ln();
                    let (l_t, l_0) = (lam(at, st), lam(a0, sg0));
                    let h = l_t - l_0;
                    let coef = at * ((-h).exp() - 1.0);
                    match (&*prev_x0, i > 0 && !last) {
                        (Some(m1), true) => {
                            let s1 = sigmas[i - 1];
                            let (a1, sg1) = alpha_sigma(s1);
                            let r0 = (l_0 - lam(a1, sg1)) / h;
                            let d1 = (&x0 - m1) * (1.0 / r0);
                            x * (st / sg0) - &x0 * coef - d1 * (0.5 * coef)
                        }
                        _ => x * (st / sg0) - &x0 * coef,
                    }
                };
                *prev_x0 = Some(x0);
                next
            }
        }
    }
}

/// DDIM indexes ᾱ by timestep: with "leading" spacing and a `steps_offset`, too many steps
/// reach past the last training timestep (1000 steps, offset 1: t = 1000 of 0…999), where
/// diffusers fails with an IndexError mid-run. Refused here instead, naming the most steps
/// this schedule takes.
fn ddim_timesteps_in_range(config: &SchedulerConfig, steps: usize, ts: &[i64]) -> Result<()> {
    let n = config.num_train_timesteps;
    if ts.iter().all(|&t| (0..n).contains(&t)) {
        return Ok(());
    }
    let most = (1..steps)
        .rev()
        .find(|&s| {
            discrete_timesteps(config, s).is_ok_and(|ts| ts.iter().all(|&t| (0..n).contains(&t)))
        })
        .unwrap_or(0);
    Err(DiffusionError::InvalidRequest(format!(
        "steps: {steps} DDIM steps with {} timestep spacing and steps_offset {} go past the \
         model's {n} training timesteps; use at most {most}",
        config.spacing(),
        config.steps_offset
    )))
}

/// The UNet's timestep input for a batch: float for every sampler (integer-valued where the
/// diffusers scheduler uses integers, which the sinusoidal embedding treats identically).
pub fn timestep_tensor(t: f64, batch: i64, device: tch::Device) -> Tensor {
    Tensor::full([batch], t, (Kind::Float, device))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sd_config() -> SchedulerConfig {
        serde_json::from_value(serde_json::json!({
            "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
            "steps_offset": 1, "set_alpha_to_one": false, "clip_sample": false,
            "timestep_spacing": "linspace"
        }))
        .expect("config")
    }

    #[test]
    fn names_round_trip() {
        for k in NoiseScheduler::ALL {
            assert_eq!(k.as_str().parse::<NoiseScheduler>().expect("parse"), k);
            let json = serde_json::to_string(&k).expect("json");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert!("pndm".parse::<NoiseScheduler>().is_err());
    }

    #[test]
    fn euler_init_sigma_matches_diffusers() {
        // diffusers: EulerDiscreteScheduler(linspace).set_timesteps(20)
        // -> init_noise_sigma = sigma_max = 14.6146, first timestep 999
        let s = Sampler::new(NoiseScheduler::Euler, &sd_config(), 20).expect("sampler");
        assert!(
            (s.init_noise_sigma() - 14.6146).abs() < 1e-3,
            "{}",
            s.init_noise_sigma()
        );
        assert_eq!(s.timesteps()[0], 999.0);
        assert!((s.timesteps()[1] - 946.4211).abs() < 1e-3);
    }

    #[test]
    fn dpm_karras_timesteps_span_the_schedule() {
        let s = Sampler::new(NoiseScheduler::DpmPp2m, &sd_config(), 10).expect("sampler");
        assert_eq!(s.timesteps().len(), 10);
        assert_eq!(s.timesteps()[0], 999.0);
        assert!(s.timesteps()[9] < 20.0);
    }

    /// SD 1.x's DDIM config ("leading", steps_offset 1): 1000 steps would sample t = 1000,
    /// one past ᾱ's end (it panicked in `step`). Refused with the limit named; every step count
    /// that is accepted steps through its whole schedule.
    #[test]
    fn ddim_refuses_steps_that_run_past_the_training_timesteps() {
        let mut config = sd_config();
        config.timestep_spacing = Some("leading".into());
        let err = Sampler::new(NoiseScheduler::Ddim, &config, 1000)
            .err()
            .expect("1000 leading steps with offset 1 must be refused");
        let msg = err.to_string();
        assert!(msg.contains("use at most 999"), "{msg}");
        assert!(matches!(err, DiffusionError::InvalidRequest(_)), "{err:?}");

        let x = Tensor::zeros([1, 1, 1, 1], (Kind::Float, tch::Device::Cpu));
        for spacing in ["leading", "trailing", "linspace"] {
            config.timestep_spacing = Some(spacing.into());
            for steps in [1, 2, 3, 7, 333, 500, 999, 1000] {
                let Ok(mut s) = Sampler::new(NoiseScheduler::Ddim, &config, steps) else {
                    assert!(spacing == "leading" && steps == 1000, "{spacing} {steps}");
                    continue;
                };
                for i in 0..s.timesteps().len() {
                    let _ = s.step(&x, i, &x, &mut || x.shallow_clone());
                }
            }
        }
    }

    #[test]
    fn turbo_is_trailing_and_ancestral() {
        let s = Sampler::new(NoiseScheduler::Turbo, &sd_config(), 1).expect("sampler");
        assert_eq!(s.timesteps(), &[999.0]);
        assert!(s.needs_noise());
    }
}
