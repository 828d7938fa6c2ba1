//! JSON cells to DynamoDB maps and lists, and typed values back to text.
//!
//! A small parser of our own because serde_json reads numbers through `f64` (unless a global feature
//! is turned on for every crate in the binary), and DynamoDB numbers must keep all 38 digits.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::base64;

use crate::load::read::number::parse_number;

/// DynamoDB allows 32 levels of nesting.
const MAX_DEPTH: usize = 32;

/// Parses a JSON object or array into an `M` or `L` attribute.
pub fn parse_json_cell(text: &str) -> Result<AttributeValue, String> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        pos: 0,
    };
    parser.skip_ws();
    if !matches!(parser.peek(), Some(b'{' | b'[')) {
        return Err("expected a JSON object or array".to_string());
    }
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != parser.bytes.len() {
        return Err(parser.error("unexpected text after the JSON value"));
    }
    Ok(value)
}

/// A typed value as a cell's text: strings and numbers as they are, booleans as `true`/`false`,
/// null as nothing, binary as base64, maps, lists and sets as JSON (numbers keep every digit).
pub fn cell_text(value: &AttributeValue) -> String {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => s.clone(),
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::Null(_) => String::new(),
        AttributeValue::B(b) => base64::encode(b.as_ref()),
        other => {
            let mut json = String::new();
            write_json(other, &mut json);
            json
        }
    }
}

fn write_json(value: &AttributeValue, out: &mut String) {
    let list = |items: Vec<AttributeValue>, out: &mut String| {
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json(item, out);
        }
        out.push(']');
    };
    match value {
        AttributeValue::N(n) => out.push_str(n),
        AttributeValue::Bool(b) => out.push_str(&b.to_string()),
        AttributeValue::Null(_) => out.push_str("null"),
        AttributeValue::M(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::from(key.as_str()).to_string());
                out.push(':');
                write_json(&map[key], out);
            }
            out.push('}');
        }
        AttributeValue::L(items) => list(items.clone(), out),
        AttributeValue::Ss(items) => {
            list(items.iter().cloned().map(AttributeValue::S).collect(), out)
        }
        AttributeValue::Ns(items) => {
            list(items.iter().cloned().map(AttributeValue::N).collect(), out)
        }
        other => out.push_str(&serde_json::Value::from(cell_text(other)).to_string()),
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        format!("invalid JSON at character {}: {what}", self.pos + 1)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    fn value(&mut self, depth: usize) -> Result<AttributeValue, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than DynamoDB's {MAX_DEPTH} levels"));
        }
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(AttributeValue::S(self.string()?)),
            Some(b't') => self.literal("true", AttributeValue::Bool(true)),
            Some(b'f') => self.literal("false", AttributeValue::Bool(false)),
            Some(b'n') => self.literal("null", AttributeValue::Null(true)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end")),
        }
    }

    fn literal(&mut self, word: &str, value: AttributeValue) -> Result<AttributeValue, String> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("unexpected word"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<AttributeValue, String> {
        self.pos += 1;
        let mut map = HashMap::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(AttributeValue::M(map));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            map.insert(key, value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(AttributeValue::M(map));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<AttributeValue, String> {
        self.pos += 1;
        let mut list = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(AttributeValue::L(list));
        }
        loop {
            list.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(AttributeValue::L(list));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<AttributeValue, String> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.pos += 1;
        }
        // Input is UTF-8 and this range holds only ASCII.
        let text = std::str::from_utf8(&self.bytes[start..self.pos]).unwrap_or_default();
        let strict_json = !text.starts_with('+')
            && !text.starts_with('.')
            && !text.starts_with("-.")
            && !text.contains(".e")
            && !text.contains(".E")
            && !text.ends_with('.');
        match parse_number(text) {
            Ok(n) if strict_json => Ok(AttributeValue::N(n.text)),
            Ok(_) => Err(self.error(&format!("{text:?} is not a JSON number"))),
            Err(e) => Err(format!("number {text:?}: {e}")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            self.pos += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let Some(escape) = self.peek() else {
                        return Err(self.error("unterminated escape"));
                    };
                    self.pos += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error("unknown escape")),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0x00..=0x1f => return Err(self.error("control character in string")),
                _ => out.push(byte),
            }
        }
        // The input was a &str and we only split it at ASCII bytes.
        String::from_utf8(out).map_err(|_| self.error("invalid UTF-8"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.error("bad \\u escape"))?;
        self.pos += 4;
        Ok(digits)
    }

    fn unicode_escape(&mut self) -> Result<char, String> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.bytes[self.pos..].starts_with(b"\\u") {
                return Err(self.error("lone surrogate"));
            }
            self.pos += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("lone surrogate"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("lone surrogate"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_read_back_as_the_cells_that_typed_them() {
        let json = r#"{"a":[1,"x",true,null],"b":{"c":12.50}}"#;
        let value = parse_json_cell(json).unwrap();
        assert_eq!(cell_text(&value), json);
        assert_eq!(parse_json_cell(&cell_text(&value)).unwrap(), value);
        assert_eq!(cell_text(&AttributeValue::N("12.50".into())), "12.50");
        assert_eq!(cell_text(&AttributeValue::Null(true)), "");
        assert_eq!(cell_text(&AttributeValue::S("a\"b".into())), "a\"b");
    }

    fn m(pairs: &[(&str, AttributeValue)]) -> AttributeValue {
        AttributeValue::M(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn object_with_every_kind_of_value() {
        let v = parse_json_cell(
            r#"{"s":"x","n":12.50,"t":true,"f":false,"z":null,"l":[1,"a"],"o":{}}"#,
        )
        .unwrap();
        assert_eq!(
            v,
            m(&[
                ("s", AttributeValue::S("x".into())),
                ("n", AttributeValue::N("12.50".into())),
                ("t", AttributeValue::Bool(true)),
                ("f", AttributeValue::Bool(false)),
                ("z", AttributeValue::Null(true)),
                (
                    "l",
                    AttributeValue::L(vec![
                        AttributeValue::N("1".into()),
                        AttributeValue::S("a".into())
                    ])
                ),
                ("o", m(&[])),
            ])
        );
    }

    #[test]
    fn numbers_keep_every_digit() {
        let big = "12345678901234567890123456789012345678";
        let v = parse_json_cell(&format!("[{big}]")).unwrap();
        assert_eq!(v, AttributeValue::L(vec![AttributeValue::N(big.into())]));
    }

    #[test]
    fn too_many_digits_is_rejected() {
        let err = parse_json_cell(&format!("[{}]", "9".repeat(39))).unwrap_err();
        assert!(err.contains("39 significant digits"), "{err}");
    }

    #[test]
    fn escapes_and_non_ascii() {
        let v = parse_json_cell(r#"["caf\u00e9", "\ud83d\ude00", "東京", "a\"b\\c\n"]"#).unwrap();
        assert_eq!(
            v,
            AttributeValue::L(vec![
                AttributeValue::S("café".into()),
                AttributeValue::S("😀".into()),
                AttributeValue::S("東京".into()),
                AttributeValue::S("a\"b\\c\n".into()),
            ])
        );
    }

    #[test]
    fn scalars_at_top_level_are_refused() {
        for s in ["1", "\"x\"", "true", "null", ""] {
            assert_eq!(
                parse_json_cell(s).unwrap_err(),
                "expected a JSON object or array"
            );
        }
    }

    #[test]
    fn malformed_json_is_refused_with_a_position() {
        for s in [
            "{",
            "[1,]",
            "{\"a\" 1}",
            "{a:1}",
            "[1] x",
            "[\"\\x\"]",
            "[+1]",
            "[.5]",
            "[01e]",
            "[\"\\ud800\"]",
            "[tru]",
        ] {
            assert!(parse_json_cell(s).is_err(), "{s:?} should fail");
        }
        assert!(parse_json_cell("[1,]").unwrap_err().contains("character 4"));
    }

    #[test]
    fn nesting_is_limited() {
        let ok = format!("{}{}", "[".repeat(32), "]".repeat(32));
        assert!(parse_json_cell(&ok).is_ok());
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert!(parse_json_cell(&deep).unwrap_err().contains("nested"));
    }
}
