//! The Windows command-line codec. (Being written: see issue 3.)

#[derive(Debug, thiserror::Error)]
pub enum CmdlineError {
    #[error("invalid command line: {0}")]
    Invalid(String),
}
