//! Durations exactly as Vault reads them, for the config file, policy files and the
//! `X-Vault-Wrap-TTL` header alike: go-secure-stdlib's `parseutil.ParseDurationSecond` (a
//! bare integer is seconds, `<integer>d` is days) over Go's `time.ParseDuration`; and when
//! something that lives for a TTL is refreshed (tokens, leases).

use std::time::{Duration, SystemTime};

/// What every duration message offers the reader, so a refusal says what would be accepted.
pub const ACCEPTED: &str = "a whole number of seconds, or a string such as \"90s\", \"1.5h\", \
                            \"1h30m\", \"500ms\" or \"7d\"";

/// Why a text or number is not a duration Vault would read the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0:?} is not a duration")]
    Invalid(String),
    #[error("{0:?} has no unit")]
    MissingUnit(String),
    #[error("{text:?} has an unknown unit {unit:?} (units: ns, us, ms, s, m, h, or d alone)")]
    UnknownUnit { text: String, unit: String },
    #[error("{0:?} is negative")]
    Negative(String),
    #[error("{0:?} is longer than Vault can hold (about 292 years)")]
    TooLarge(String),
    #[error("{0} is not a whole number of seconds (write a string such as \"{0}s\")")]
    FractionalSeconds(String),
}

/// Go's `time.Duration` is an `i64` of nanoseconds: Vault cannot hold anything longer.
const MAX_NANOS: u64 = i64::MAX as u64;
const NANOS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_DAY: u64 = 86_400;

/// `ParseDurationSecond` on a string: empty is zero, an integer is seconds, `<integer>d` is
/// days, anything else goes to Go's `time.ParseDuration`. Vault holds negative durations and
/// lets integer overflow wrap; both are refused here, so a value never means something
/// different to vaultgate than to Vault.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Ok(Duration::ZERO);
    }
    if let Some(seconds) = go_int(text) {
        return scaled(text, seconds, NANOS_PER_SEC);
    }
    if let Some(days) = text.strip_suffix('d') {
        // Vault takes only a whole number of days; "1.5d" or "1h1d" is its error too.
        let days = go_int(days).ok_or_else(|| DurationError::Invalid(text.to_owned()))?;
        return scaled(text, days, SECS_PER_DAY * NANOS_PER_SEC);
    }
    go_duration(text)
}

/// A bare integer in a config or policy file: seconds, as `ParseDurationSecond` reads one.
pub fn from_seconds(seconds: i64) -> Result<Duration, DurationError> {
    scaled(&seconds.to_string(), i128::from(seconds), NANOS_PER_SEC)
}

/// A number with a fraction. Vault would truncate `1.5` to one second without a word, so only
/// whole values are taken; the error suggests the string that says what was meant.
pub fn from_seconds_f64(seconds: f64) -> Result<Duration, DurationError> {
    if !seconds.is_finite() || seconds.fract() != 0.0 {
        return Err(DurationError::FractionalSeconds(seconds.to_string()));
    }
    // Anything past this is too long anyway; below it the cast is exact.
    if seconds.abs() > 1e15 {
        return Err(DurationError::TooLarge(seconds.to_string()));
    }
    from_seconds(seconds as i64)
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits, within `i64`.
fn go_int(text: &str) -> Option<i128> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = text.parse().ok()?;
    Some(i128::from(value))
}

fn scaled(text: &str, count: i128, unit_nanos: u64) -> Result<Duration, DurationError> {
    let nanos = count
        .checked_mul(i128::from(unit_nanos))
        .ok_or_else(|| DurationError::TooLarge(text.to_owned()))?;
    signed(text, nanos)
}

fn signed(text: &str, nanos: i128) -> Result<Duration, DurationError> {
    if nanos < 0 {
        return Err(DurationError::Negative(text.to_owned()));
    }
    u64::try_from(nanos)
        .ok()
        .filter(|n| *n <= MAX_NANOS)
        .map(Duration::from_nanos)
        .ok_or_else(|| DurationError::TooLarge(text.to_owned()))
}

/// Go's `time.ParseDuration`, step for step: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` or a lone `0`,
/// fractions computed in `f64` exactly as Go does, so the nanoseconds agree.
fn go_duration(text: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(text.to_owned());
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let (whole, after) =
            leading_int(rest).ok_or_else(|| DurationError::TooLarge(text.into()))?;
        let pre = after.len() != rest.len();
        rest = after;
        let (mut fraction, mut scale, mut post) = (0u64, 1.0f64, false);
        if let Some(after_dot) = rest.strip_prefix('.') {
            let (f, s, after) = leading_fraction(after_dot);
            post = after.len() != after_dot.len();
            (fraction, scale, rest) = (f, s, after);
        }
        if !pre && !post {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(text.to_owned()));
        }
        let (unit, after) = rest.split_at(unit_len);
        rest = after;
        let unit_nanos: u64 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            _ => {
                return Err(DurationError::UnknownUnit {
                    text: text.to_owned(),
                    unit: unit.to_owned(),
                })
            }
        };
        let too_large = || DurationError::TooLarge(text.to_owned());
        if whole > (1u64 << 63) / unit_nanos {
            return Err(too_large());
        }
        let mut value = whole * unit_nanos;
        if fraction > 0 {
            // As Go: float64 keeps a fraction of an hour nanosecond-accurate.
            let part = (fraction as f64 * (unit_nanos as f64 / scale)) as u64;
            value = value.checked_add(part).ok_or_else(too_large)?;
            if value > 1 << 63 {
                return Err(too_large());
            }
        }
        total = total.checked_add(value).ok_or_else(too_large)?;
        if total > 1 << 63 {
            return Err(too_large());
        }
    }
    let nanos = i128::from(total);
    signed(text, if negative { -nanos } else { nanos })
}

/// Go's `leadingInt`: the digits at the front; `None` when they overflow.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let mut x: u64 = 0;
    for b in s[..end].bytes() {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(b - b'0');
        if x > 1 << 63 {
            return None;
        }
    }
    Some((x, &s[end..]))
}

/// Go's `leadingFraction`: digits past what `u64` can hold still count as consumed but add
/// nothing, as they are far below a nanosecond.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (mut x, mut scale, mut overflow) = (0u64, 1.0f64, false);
    for b in s[..end].bytes() {
        if overflow {
            continue;
        }
        if x > (i64::MAX as u64) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(b - b'0');
        if y > 1 << 63 {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[end..])
}

/// About two thirds of the TTL, minus up to 10% jitter so many proxies do not renew in
/// lock-step, and never sooner than 200 ms.
pub fn refresh_after(ttl: Duration) -> Duration {
    jittered(ttl * 2 / 3).max(Duration::from_millis(200))
}

pub fn jittered(d: Duration) -> Duration {
    // Sub-second clock noise is jitter enough; no RNG dependency for this.
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let tenth = d / 10;
    d - tenth.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

#[cfg(test)]
mod tests;
