//! One error type for the library. Every message names the file, field or tensor at fault.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The model config is invalid: `field` names the JSON field.
    #[error("invalid config: {field}: {reason}")]
    Config { field: String, reason: String },

    /// The weights do not match the config.
    #[error("weights do not match the config: tensor `{tensor}`: {reason}")]
    Weights { tensor: String, reason: String },

    /// The input could not be turned into a model input.
    #[error("{0}")]
    Image(String),

    /// Reading or writing a file failed.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },

    /// A computation gave NaN or ±∞.
    #[error("{0}")]
    NotFinite(String),

    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config { field: field.into(), reason: reason.into() }
    }
    pub fn weights(tensor: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Weights { tensor: tensor.into(), reason: reason.into() }
    }
    pub fn image(reason: impl Into<String>) -> Self {
        Error::Image(reason.into())
    }
    pub fn io(path: impl AsRef<std::path::Path>, err: impl std::fmt::Display) -> Self {
        Error::Io { path: path.as_ref().display().to_string(), reason: err.to_string() }
    }
}
