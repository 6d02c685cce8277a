//! kindling-heads
