//! kindling-seq
