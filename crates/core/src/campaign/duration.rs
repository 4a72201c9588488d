//! A tiny parser for human durations such as `6h`, `90m` or `1h30m`.
//!
//! Only the units a misfire window needs (s, m, h, d, w); a dependency for this
//! would be more code to audit than the function.

use std::time::Duration;

/// Parses `"<n><unit>"` groups, optionally separated by spaces: `"6h"`, `"1h 30m"`, `"2d"`.
/// Units: `s`, `m`, `h`, `d`, `w` (and their long forms `sec(s)`, `min(s)`, `hour(s)`,
/// `day(s)`, `week(s)`). The result must be positive.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut total: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration; expected e.g. \"6h\" or \"90m\"".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number in duration {text:?}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("number too large in duration {text:?}"))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let seconds = match unit {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            "" => {
                return Err(format!(
                    "missing unit in duration {text:?} (use s, m, h, d or w)"
                ));
            }
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        total = n
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("duration {text:?} is too large"))?;
        rest = rest[unit_len..].trim_start();
    }
    if total == 0 {
        return Err("duration must be positive".into());
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way [`parse_duration`] reads it (largest units first).
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h30m15s"), Ok(Duration::from_secs(5415)));
        assert_eq!(parse_duration("2 days"), Ok(Duration::from_secs(172_800)));
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in ["", "6", "h", "6x", "0h", "-1h", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn format_round_trips() {
        for text in ["6h", "1h30m", "2d", "45s"] {
            let d = parse_duration(text).expect("valid");
            assert_eq!(format_duration(d), text);
        }
    }
}
