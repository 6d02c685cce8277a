//! # kindling-vision
//!
//! CNNs for Kindling.

pub mod efficientnet;
pub mod pretrained;
mod staged;

pub use staged::StagedClassifier;
