//! The training noise schedule and timestep spacing, computed the way diffusers does
//! (float32 tensors for betas and ᾱ, numpy-style rounding for timesteps) so that sampled
//! images match the reference implementation.

use tch::{Device, Kind, Tensor};

use crate::config::SchedulerConfig;
use crate::error::{DiffusionError, Result};

/// ᾱ_t for t in 0..num_train_timesteps (values are float32, widened).
pub fn alphas_cumprod(c: &SchedulerConfig) -> Result<Vec<f64>> {
    let n = c.num_train_timesteps;
    let opts = (Kind::Float, Device::Cpu);
    let betas = match c.beta_schedule.as_str() {
        "scaled_linear" => {
            Tensor::linspace(c.beta_start.sqrt(), c.beta_end.sqrt(), n, opts).square()
        }
        "linear" => Tensor::linspace(c.beta_start, c.beta_end, n, opts),
        "squaredcos_cap_v2" => {
            let f = |t: f64| {
                ((t + 0.008) / 1.008 * std::f64::consts::PI / 2.0)
                    .cos()
                    .powi(2)
            };
            let v: Vec<f32> = (0..n)
                .map(|i| {
                    let (t1, t2) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
                    (1.0 - f(t2) / f(t1)).min(0.999) as f32
                })
                .collect();
            Tensor::from_slice(&v)
        }
        other => {
            return Err(DiffusionError::Unsupported(format!(
                "beta_schedule `{other}`"
            )));
        }
    };
    let betas = if c.rescale_betas_zero_snr {
        rescale_zero_terminal_snr(&betas)
    } else {
        betas
    };
    let ac = (betas.neg() + 1.0).cumprod(0, Kind::Float);
    let v: Vec<f32> = Vec::<f32>::try_from(&ac)?;
    Ok(v.into_iter().map(f64::from).collect())
}

/// "Common Diffusion Noise Schedules and Sample Steps are Flawed", algorithm 1.
fn rescale_zero_terminal_snr(betas: &Tensor) -> Tensor {
    let alphas = betas.neg() + 1.0;
    let sqrt_ab = alphas.cumprod(0, Kind::Float).sqrt();
    let a0 = sqrt_ab.get(0);
    let at = sqrt_ab.get(-1);
    let scaled = (&sqrt_ab - &at) * (&a0 / (&a0 - &at));
    let ab = scaled.square();
    let n = ab.size()[0];
    let ratio = ab.narrow(0, 1, n - 1) / ab.narrow(0, 0, n - 1);
    let alphas = Tensor::cat(&[ab.narrow(0, 0, 1), ratio], 0);
    alphas.neg() + 1.0
}

/// `np.round` (half to even), which diffusers uses for timesteps.
fn np_round(x: f64) -> f64 {
    x.round_ties_even()
}

/// Integer timesteps of DDIM and similar schedulers, largest first.
pub fn discrete_timesteps(c: &SchedulerConfig, steps: usize) -> Result<Vec<i64>> {
    let n = c.num_train_timesteps;
    let s = steps as i64;
    Ok(match c.spacing() {
        "leading" => {
            let ratio = n / s;
            (0..s).rev().map(|i| i * ratio + c.steps_offset).collect()
        }
        "trailing" => {
            let ratio = n as f64 / s as f64;
            arange_desc(n as f64, ratio)
                .map(|v| np_round(v) as i64 - 1)
                .collect()
        }
        "linspace" => linspace(0.0, (n - 1) as f64, steps)
            .into_iter()
            .rev()
            .map(|v| np_round(v) as i64)
            .collect(),
        other => {
            return Err(DiffusionError::Unsupported(format!(
                "timestep_spacing `{other}`"
            )));
        }
    })
}

/// Float timesteps of the Euler family (linspace spacing is not rounded there).
pub fn float_timesteps(c: &SchedulerConfig, steps: usize) -> Result<Vec<f64>> {
    let n = c.num_train_timesteps;
    Ok(match c.spacing() {
        "linspace" => linspace(0.0, (n - 1) as f64, steps)
            .into_iter()
            .rev()
            .map(|v| v as f32 as f64)
            .collect(),
        "leading" => {
            let ratio = n / steps as i64;
            (0..steps as i64)
                .rev()
                .map(|i| (i * ratio) as f64 + c.steps_offset as f64)
                .collect()
        }
        "trailing" => {
            let ratio = n as f64 / steps as f64;
            arange_desc(n as f64, ratio)
                .map(|v| np_round(v) - 1.0)
                .collect()
        }
        other => {
            return Err(DiffusionError::Unsupported(format!(
                "timestep_spacing `{other}`"
            )));
        }
    })
}

/// `np.arange(start, 0, -step)`.
fn arange_desc(start: f64, step: f64) -> impl Iterator<Item = f64> {
    let count = (start / step).ceil().max(0.0) as usize;
    (0..count).map(move |i| start - i as f64 * step)
}

/// `np.linspace(a, b, n)`.
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![a],
        _ => {
            let step = (b - a) / (n - 1) as f64;
            (0..n)
                .map(|i| if i == n - 1 { b } else { a + i as f64 * step })
                .collect()
        }
    }
}

/// σ_t = √((1 − ᾱ_t)/ᾱ_t), rounded to float32 like the numpy array diffusers builds.
pub fn train_sigmas(ac: &[f64]) -> Vec<f64> {
    ac.iter()
        .map(|&a| (((1.0 - a) / a).sqrt() as f32) as f64)
        .collect()
}

/// `np.interp(x, arange(len(ys)), ys)`.
pub fn interp(x: f64, ys: &[f64]) -> f64 {
    if x <= 0.0 {
        return ys[0];
    }
    let last = ys.len() - 1;
    if x >= last as f64 {
        return ys[last];
    }
    let i = x.floor() as usize;
    let w = x - i as f64;
    ys[i] + w * (ys[i + 1] - ys[i])
}

/// Karras et al. (2022) σ ramp between σ_max and σ_min with ρ = 7.
pub fn karras_sigmas(sigma_min: f64, sigma_max: f64, steps: usize) -> Vec<f64> {
    let rho = 7.0;
    let (min_inv, max_inv) = (sigma_min.powf(1.0 / rho), sigma_max.powf(1.0 / rho));
    linspace(0.0, 1.0, steps)
        .into_iter()
        .map(|r| (max_inv + r * (min_inv - max_inv)).powf(rho))
        .collect()
}

/// Fractional timestep whose (log-interpolated) training σ equals `sigma`.
pub fn sigma_to_t(sigma: f64, log_sigmas: &[f64]) -> f64 {
    let ls = sigma.max(1e-10).ln();
    let count = log_sigmas.iter().filter(|&&l| ls - l >= 0.0).count();
    // cumsum(dists >= 0).argmax(): the first index reaching the final count.
    let mut low = 0usize;
    let mut acc = 0usize;
    for (i, &l) in log_sigmas.iter().enumerate() {
        if ls - l >= 0.0 {
            acc += 1;
        }
        if acc == count {
            low = i;
            break;
        }
    }
    let low = low.min(log_sigmas.len() - 2);
    let high = low + 1;
    let (lo, hi) = (log_sigmas[low], log_sigmas[high]);
    let w = ((lo - ls) / (lo - hi)).clamp(0.0, 1.0);
    (1.0 - w) * low as f64 + w * high as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(spacing: &str, offset: i64) -> SchedulerConfig {
        serde_json::from_value(serde_json::json!({
            "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
            "timestep_spacing": spacing, "steps_offset": offset
        }))
        .expect("config")
    }

    #[test]
    fn spacings_match_diffusers() {
        // Values printed by diffusers' DDIMScheduler.set_timesteps(4).
        assert_eq!(
            discrete_timesteps(&cfg("leading", 1), 4).expect("t"),
            vec![751, 501, 251, 1]
        );
        assert_eq!(
            discrete_timesteps(&cfg("trailing", 0), 4).expect("t"),
            vec![999, 749, 499, 249]
        );
        assert_eq!(
            discrete_timesteps(&cfg("linspace", 0), 4).expect("t"),
            vec![999, 666, 333, 0]
        );
        assert_eq!(
            float_timesteps(&cfg("trailing", 0), 1).expect("t"),
            vec![999.0]
        );
    }

    #[test]
    fn scaled_linear_endpoints() {
        let ac = alphas_cumprod(&cfg("leading", 1)).expect("ac");
        assert_eq!(ac.len(), 1000);
        assert!((ac[0] - (1.0 - 0.00085)).abs() < 1e-6);
        assert!((ac[999] - 0.0047).abs() < 1e-3, "{}", ac[999]);
    }

    #[test]
    fn sigma_to_t_inverts_train_sigmas() {
        let ac = alphas_cumprod(&cfg("leading", 1)).expect("ac");
        let s = train_sigmas(&ac);
        let logs: Vec<f64> = s.iter().map(|v| v.ln()).collect();
        assert!((sigma_to_t(s[500], &logs) - 500.0).abs() < 1e-6);
        assert!((sigma_to_t(s[999], &logs) - 999.0).abs() < 1e-6);
    }
}
