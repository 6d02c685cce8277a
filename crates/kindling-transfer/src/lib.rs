//! kindling-transfer
