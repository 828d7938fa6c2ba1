//! Reading configuration from the environment at cold start: the error that names the variable, and
//! the small parsers every wing's environment shares (lists, `key=value`, optional numbers).

use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Reads a config struct from the environment; errors name the variable (`TABLE_NAMES`), not the field.
pub fn from_env<T: DeserializeOwned>() -> Result<T, ConfigError> {
    from_vars(std::env::vars())
}

pub fn from_vars<T: DeserializeOwned>(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    envy::from_iter(vars).map_err(|e| {
        ConfigError(match e {
            envy::Error::MissingValue(field) => {
                format!("environment variable {} is required", field.to_uppercase())
            }
            envy::Error::Custom(message) => message,
        })
    })
}

/// A comma-separated list, blanks dropped, each item once (in the order first given).
pub fn list(text: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        // A table named in two lists (ProtectedTables and LoadTables) is backed up once.
        if !items.iter().any(|seen| seen == item) {
            items.push(item.to_string());
        }
    }
    items
}

/// `key=value`, both trimmed; the key may not be empty.
pub fn key_value(pair: &str) -> Result<(String, String), String> {
    match pair.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("{pair:?} is not key=value")),
    }
}

/// An optional whole number: empty (as a template leaves an unset parameter) is `None`.
pub fn number(var: &str, text: &str) -> Result<Option<i64>, ConfigError> {
    match text.trim() {
        "" => Ok(None),
        n => n
            .parse()
            .map(Some)
            .map_err(|_| ConfigError(format!("{var}: {n:?} is not a whole number"))),
    }
}

/// Environment pairs for tests of each wing's configuration.
#[cfg(test)]
pub(crate) fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
