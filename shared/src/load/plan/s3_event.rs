//! Object keys as S3 writes them into event notifications.

use percent_encoding::percent_decode_str;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("object key {raw:?} is not valid form-URL-encoded UTF-8")]
pub struct KeyDecodeError {
    pub raw: String,
}

/// Decodes a key from an S3 event: form-URL-encoded, so `+` is a space and `%XX` is a UTF-8 byte.
pub fn decode_event_key(raw: &str) -> Result<String, KeyDecodeError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| KeyDecodeError {
            raw: raw.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_key_is_unchanged() {
        assert_eq!(
            decode_event_key("incoming/orders.csv").unwrap(),
            "incoming/orders.csv"
        );
    }

    #[test]
    fn plus_is_a_space() {
        assert_eq!(
            decode_event_key("incoming/my+orders.csv").unwrap(),
            "incoming/my orders.csv"
        );
    }

    #[test]
    fn encoded_plus_stays_a_plus() {
        assert_eq!(
            decode_event_key("incoming/a%2Bb.csv").unwrap(),
            "incoming/a+b.csv"
        );
    }

    #[test]
    fn utf8_bytes_are_decoded() {
        assert_eq!(
            decode_event_key("incoming/caf%C3%A9+%E6%9D%B1%E4%BA%AC.csv").unwrap(),
            "incoming/café 東京.csv"
        );
    }

    #[test]
    fn percent_sign_itself() {
        assert_eq!(
            decode_event_key("incoming/100%25.csv").unwrap(),
            "incoming/100%.csv"
        );
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert!(decode_event_key("incoming/%FF.csv").is_err());
    }
}
