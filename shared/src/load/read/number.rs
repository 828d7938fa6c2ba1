//! DynamoDB numbers, validated as decimal text: never through a float.
//!
//! DynamoDB accepts up to 38 significant digits, magnitudes from 1E-130 to below 1E+126, and zero.

use std::fmt;

pub const MAX_SIGNIFICANT_DIGITS: usize = 38;
const MIN_EXPONENT: i64 = -130;
const MAX_EXPONENT: i64 = 125;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberError {
    NotANumber,
    TooManyDigits(usize),
    OutOfRange,
}

impl fmt::Display for NumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NumberError::NotANumber => write!(f, "not a decimal number"),
            NumberError::TooManyDigits(n) => write!(
                f,
                "{n} significant digits (DynamoDB keeps at most {MAX_SIGNIFICANT_DIGITS})"
            ),
            NumberError::OutOfRange => {
                write!(
                    f,
                    "magnitude outside DynamoDB's range (1E-130 to 9.99E+125)"
                )
            }
        }
    }
}

/// A validated DynamoDB number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoNumber {
    /// Text to send to DynamoDB.
    pub text: String,
    /// Canonical form (`-1234E-2`): equal for numbers DynamoDB treats as equal (`1.0` and `1`).
    pub canonical: String,
    /// Significant digits, for item-size accounting.
    pub significant_digits: usize,
}

/// Parses `[+-]digits[.digits][(e|E)[+-]digits]` (either digit run may be empty, not both).
pub fn parse_number(input: &str) -> Result<DynamoNumber, NumberError> {
    let s = input.trim();
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &s[int_start..i];
    let mut frac_digits = "";
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &s[frac_start..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(NumberError::NotANumber);
    }
    let mut exponent: i64 = 0;
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        let exp_text = &s[i..];
        let digits = exp_text.strip_prefix(['+', '-']).unwrap_or(exp_text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberError::NotANumber);
        }
        // Anything longer than this is out of range whatever the mantissa.
        if digits.trim_start_matches('0').len() > 6 {
            return Err(NumberError::OutOfRange);
        }
        exponent = exp_text.parse().map_err(|_| NumberError::NotANumber)?;
        i = bytes.len();
    }
    if i != bytes.len() {
        return Err(NumberError::NotANumber);
    }

    // value = 0.DIGITS * 10^(len + exponent) after stripping zeros.
    let all_digits: String = format!("{int_digits}{frac_digits}");
    let mut scale = exponent - frac_digits.len() as i64;
    let trimmed_lead = all_digits.trim_start_matches('0');
    let significant = trimmed_lead.trim_end_matches('0');
    scale += (trimmed_lead.len() - significant.len()) as i64;
    if significant.is_empty() {
        return Ok(DynamoNumber {
            text: "0".to_string(),
            canonical: "0".to_string(),
            significant_digits: 1,
        });
    }
    if significant.len() > MAX_SIGNIFICANT_DIGITS {
        return Err(NumberError::TooManyDigits(significant.len()));
    }
    let adjusted = significant.len() as i64 - 1 + scale;
    if !(MIN_EXPONENT..=MAX_EXPONENT).contains(&adjusted) {
        return Err(NumberError::OutOfRange);
    }
    let sign = if negative { "-" } else { "" };
    let canonical = format!("{sign}{significant}E{scale}");
    // Send the user's text when it is in the plain form DynamoDB documents; otherwise the canonical one.
    let plain = !s.starts_with('+')
        && !int_digits.is_empty()
        && (s.contains('.') != frac_digits.is_empty());
    let text = if plain {
        s.to_string()
    } else {
        canonical.clone()
    };
    Ok(DynamoNumber {
        text,
        canonical,
        significant_digits: significant.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> DynamoNumber {
        parse_number(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn integers_and_decimals_keep_their_text() {
        assert_eq!(ok("2756").text, "2756");
        assert_eq!(ok("-27.56").text, "-27.56");
        assert_eq!(ok("1.5e3").text, "1.5e3");
        assert_eq!(ok(" 42 ").text, "42");
    }

    #[test]
    fn unusual_spellings_are_sent_canonically() {
        assert_eq!(ok("+5").text, "5E0");
        assert_eq!(ok(".5").text, "5E-1");
        assert_eq!(ok("5.").text, "5E0");
    }

    #[test]
    fn equal_numbers_have_equal_canonical_forms() {
        assert_eq!(ok("1").canonical, ok("1.000").canonical);
        assert_eq!(ok("100").canonical, ok("1e2").canonical);
        assert_eq!(ok("0.010").canonical, ok("1E-2").canonical);
        assert_eq!(ok("-0").canonical, ok("0.0").canonical);
        assert_ne!(ok("-1").canonical, ok("1").canonical);
    }

    #[test]
    fn thirty_eight_digits_fit_and_thirty_nine_do_not() {
        let d38 = "1".repeat(38);
        assert_eq!(ok(&d38).significant_digits, 38);
        assert_eq!(
            parse_number(&"1".repeat(39)),
            Err(NumberError::TooManyDigits(39))
        );
        // Trailing zeros are not significant.
        assert!(parse_number(&format!("{d38}000")).is_ok());
        // Nor are leading ones.
        assert!(parse_number(&format!("0.000{d38}")).is_ok());
    }

    #[test]
    fn range_limits() {
        assert!(parse_number("1E-130").is_ok());
        assert_eq!(parse_number("1E-131"), Err(NumberError::OutOfRange));
        assert!(parse_number("9.9999999999999999999999999999999999999E+125").is_ok());
        assert_eq!(parse_number("1E126"), Err(NumberError::OutOfRange));
        assert_eq!(parse_number("1E99999999999"), Err(NumberError::OutOfRange));
    }

    #[test]
    fn garbage_is_not_a_number() {
        for s in [
            "", " ", "abc", "1,000", "1.2.3", "NaN", "Infinity", "-", ".", "1e", "1e+", "0x10",
            "12abc", "--1", "1 2", "$5",
        ] {
            assert_eq!(parse_number(s), Err(NumberError::NotANumber), "{s:?}");
        }
    }
}
