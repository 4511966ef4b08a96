//! The duration grammar against what Go's `time.ParseDuration` and Vault's
//! `ParseDurationSecond` return for the same text.

use super::*;

fn ms(text: &str) -> Result<u128, DurationError> {
    parse(text).map(|d| d.as_millis())
}

fn ns(text: &str) -> Result<u128, DurationError> {
    parse(text).map(|d| d.as_nanos())
}

#[test]
fn vault_reads_these_as_go_and_parseutil_do() {
    let cases: &[(&str, u128)] = &[
        ("", 0),
        ("0", 0),
        ("+0", 0),
        ("-0", 0),
        ("-0s", 0),
        ("90", 90_000),
        ("+5", 5_000),
        ("1d", 86_400_000),
        ("2d", 172_800_000),
        ("+1d", 86_400_000),
        ("30s", 30_000),
        ("5m", 300_000),
        ("1h30m", 5_400_000),
        ("1.5h", 5_400_000),
        ("90000ms", 90_000),
        ("300ms", 300),
        (".5s", 500),
        ("5.s", 5_000),
        ("1m1m", 120_000),
        ("1h2m3s4ms", 3_723_004),
    ];
    for &(text, want) in cases {
        assert_eq!(ms(text), Ok(want), "{text:?}");
    }
}

#[test]
fn sub_millisecond_units_keep_their_nanoseconds() {
    assert_eq!(ns("2us"), Ok(2_000));
    assert_eq!(ns("2\u{b5}s"), Ok(2_000));
    assert_eq!(ns("2\u{3bc}s"), Ok(2_000));
    assert_eq!(ns("1ns"), Ok(1));
    assert_eq!(ns("1.5us"), Ok(1_500));
    // Go drops what is below a nanosecond.
    assert_eq!(ns("1.0000000001s"), Ok(1_000_000_000));
    // Go's float64 step may land a nanosecond short of a third of an hour; never more.
    let third = ns("0.3333333333333333333h").unwrap();
    assert!(
        (1_199_999_999_999..=1_200_000_000_000).contains(&third),
        "{third}"
    );
}

#[test]
fn the_range_is_gos_i64_of_nanoseconds() {
    assert_eq!(ns("9223372036854775807ns"), Ok(i64::MAX as u128));
    assert_eq!(ms("2562047h"), Ok(2_562_047 * 3_600_000));
    assert_eq!(ms("9223372036"), Ok(9_223_372_036_000));
    for text in [
        "9223372036854775808ns",
        "2562048h",
        "9223372037",
        "106752d",
        "99999999999999999999h",
    ] {
        assert!(
            matches!(parse(text), Err(DurationError::TooLarge(_))),
            "{text:?}: {:?}",
            parse(text)
        );
    }
}

#[test]
fn refusals_say_what_is_wrong() {
    let invalid = |t: &str| DurationError::Invalid(t.to_owned());
    let cases: &[(&str, DurationError)] = &[
        ("s", invalid("s")),
        (".s", invalid(".s")),
        ("-", invalid("-")),
        ("d", invalid("d")),
        ("1.5d", invalid("1.5d")),
        ("1h1d", invalid("1h1d")),
        (" 5s", invalid(" 5s")),
        ("1.5", DurationError::MissingUnit("1.5".into())),
        (
            "5x",
            DurationError::UnknownUnit {
                text: "5x".into(),
                unit: "x".into(),
            },
        ),
        (
            "2 days",
            DurationError::UnknownUnit {
                text: "2 days".into(),
                unit: " days".into(),
            },
        ),
        ("-5", DurationError::Negative("-5".into())),
        ("-5s", DurationError::Negative("-5s".into())),
        ("-1d", DurationError::Negative("-1d".into())),
    ];
    for (text, want) in cases {
        assert_eq!(parse(text).as_ref(), Err(want), "{text:?}");
    }
    assert_eq!(
        DurationError::UnknownUnit {
            text: "5x".into(),
            unit: "x".into()
        }
        .to_string(),
        "\"5x\" has an unknown unit \"x\" (units: ns, us, ms, s, m, h, or d alone)"
    );
}

#[test]
fn numbers_are_whole_seconds() {
    assert_eq!(from_seconds(30), Ok(Duration::from_secs(30)));
    assert_eq!(from_seconds(0), Ok(Duration::ZERO));
    assert_eq!(from_seconds(-1), Err(DurationError::Negative("-1".into())));
    assert!(matches!(
        from_seconds(i64::MAX),
        Err(DurationError::TooLarge(_))
    ));
    assert_eq!(from_seconds_f64(10.0), Ok(Duration::from_secs(10)));
    assert_eq!(
        from_seconds_f64(10.5),
        Err(DurationError::FractionalSeconds("10.5".into()))
    );
    assert_eq!(
        DurationError::FractionalSeconds("10.5".into()).to_string(),
        "10.5 is not a whole number of seconds (write a string such as \"10.5s\")"
    );
    assert!(from_seconds_f64(f64::NAN).is_err());
    assert!(matches!(
        from_seconds_f64(1e300),
        Err(DurationError::TooLarge(_))
    ));
}
