//! kindling-vision
