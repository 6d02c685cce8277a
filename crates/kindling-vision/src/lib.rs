//! # kindling-vision
//!
//! CNNs for Kindling.

pub mod efficientnet;
pub mod pretrained;
