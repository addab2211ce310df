#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod catalogue;
pub mod handshake;
pub mod headers;
pub mod secret;
pub mod signature;
mod verifier;

#[cfg(feature = "http")]
mod http_headers;

#[cfg(feature = "axum")]
pub mod axum;

#[cfg(feature = "lambda_http")]
pub mod lambda;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use catalogue::{preset, Preset, Settings, PRESETS};
pub use handshake::Answer;
pub use headers::Headers;
pub use secret::Secret;
pub use signature::{
    sign, sign_request, verify, HmacSpec, Scheme, SignError, SignRequest, SignedRequest, Verified,
    VerifyError, VerifyRequest, DEFAULT_TOLERANCE_SECS,
};
pub use verifier::{Checked, Clock, Request, SetupError, Verifier};
