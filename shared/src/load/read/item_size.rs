//! DynamoDB's item size accounting (the 400 KB limit), computed before a write is attempted.

use aws_sdk_dynamodb::types::AttributeValue;

/// DynamoDB's maximum item size, attribute names included.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// Size of a number: about one byte per two significant digits, plus one.
pub fn number_size(significant_digits: usize) -> usize {
    significant_digits.div_ceil(2) + 1
}

/// Size of one attribute value as DynamoDB counts it (names are added by the caller).
pub fn attribute_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(significant_digits(n)),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + attribute_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + attribute_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(significant_digits(n))).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

fn significant_digits(text: &str) -> usize {
    let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn strings_count_utf8_bytes() {
        assert_eq!(attribute_size(&AttributeValue::S("abc".into())), 3);
        assert_eq!(attribute_size(&AttributeValue::S("東京".into())), 6);
    }

    #[test]
    fn numbers_count_half_their_digits() {
        assert_eq!(attribute_size(&AttributeValue::N("2756".into())), 3);
        assert_eq!(attribute_size(&AttributeValue::N("12345".into())), 4);
        assert_eq!(attribute_size(&AttributeValue::N("0.0010".into())), 2);
    }

    #[test]
    fn documents_count_their_overhead() {
        let list = AttributeValue::L(vec![
            AttributeValue::Bool(true),
            AttributeValue::S("ab".into()),
        ]);
        assert_eq!(attribute_size(&list), 3 + (1 + 1) + (1 + 2));
        let map = AttributeValue::M(HashMap::from([(
            "k".to_string(),
            AttributeValue::Null(true),
        )]));
        assert_eq!(attribute_size(&map), 3 + 1 + 1 + 1);
    }
}
