//! UCR/UEA `.ts` time series.
