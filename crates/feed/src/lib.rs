//! Reading the client's feed, and writing one like it.
#![warn(missing_docs)]

pub mod generate;
