//! Device selection from a string.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::{Error, Result};

/// A device named by a string, as accepted on Kindling's command line.
///
/// | string | backend | cargo feature |
/// |---|---|---|
/// | `cpu` (or `flex`) | burn-flex, pure Rust, SIMD + rayon | default |
/// | `ndarray` | burn-ndarray (deprecated upstream) | `ndarray` |
/// | `cuda` / `cuda:N` | burn-cuda on GPU `N` (default 0) | `cuda` |
///
/// ```
/// use kindling_core::DeviceSpec;
/// assert_eq!("cpu".parse::<DeviceSpec>()?, DeviceSpec::Cpu);
/// assert_eq!("cuda:1".parse::<DeviceSpec>()?, DeviceSpec::Cuda(1));
/// assert!("tpu".parse::<DeviceSpec>().is_err());
/// # Ok::<(), kindling_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DeviceSpec {
    /// burn-flex CPU backend (default).
    Cpu,
    /// burn-ndarray CPU backend.
    NdArray,
    /// CUDA GPU with the given index.
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        let unknown = || Error::UnknownDevice { spec: s.to_string() };
        match t.as_str() {
            "cpu" | "flex" => Ok(DeviceSpec::Cpu),
            "ndarray" => Ok(DeviceSpec::NdArray),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            _ => match t.strip_prefix("cuda:") {
                Some(n) => n.parse().map(DeviceSpec::Cuda).map_err(|_| unknown()),
                None => Err(unknown()),
            },
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::NdArray => write!(f, "ndarray"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl DeviceSpec {
    /// The cargo feature this device needs, if any.
    pub fn feature(&self) -> Option<&'static str> {
        match self {
            DeviceSpec::Cpu => None,
            DeviceSpec::NdArray => Some("ndarray"),
            DeviceSpec::Cuda(_) => Some("cuda"),
        }
    }

    /// Whether this build of Kindling can create the device.
    pub fn is_compiled(&self) -> bool {
        match self {
            DeviceSpec::Cpu => true,
            DeviceSpec::NdArray => cfg!(feature = "ndarray"),
            DeviceSpec::Cuda(_) => cfg!(feature = "cuda"),
        }
    }

    /// Creates the burn device, or a typed error when its backend was not compiled in.
    pub fn device(&self) -> Result<Device> {
        let not_compiled =
            || Error::DeviceNotCompiled { spec: self.to_string(), feature: self.feature().unwrap_or("") };
        match *self {
            DeviceSpec::Cpu => Ok(Device::flex()),
            DeviceSpec::NdArray => {
                #[cfg(feature = "ndarray")]
                {
                    #[allow(deprecated)]
                    return Ok(Device::ndarray());
                }
                #[allow(unreachable_code)]
                Err(not_compiled())
            }
            DeviceSpec::Cuda(_index) => {
                #[cfg(feature = "cuda")]
                {
                    return Ok(Device::cuda(_index));
                }
                #[allow(unreachable_code)]
                Err(not_compiled())
            }
        }
    }
}

/// Parses a device string and creates the device in one step.
///
/// ```
/// let device = kindling_core::device_from_str("cpu")?;
/// # let _ = device;
/// assert!(kindling_core::device_from_str("cuda:0").is_err() || cfg!(feature = "cuda"));
/// # Ok::<(), kindling_core::Error>(())
/// ```
pub fn device_from_str(s: &str) -> Result<Device> {
    s.parse::<DeviceSpec>()?.device()
}

/// Kindling's default device: burn-flex on the CPU.
///
/// ```
/// let _device = kindling_core::default_device();
/// ```
pub fn default_device() -> Device {
    Device::flex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_devices() {
        assert_eq!("CPU".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("flex".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("ndarray".parse::<DeviceSpec>().unwrap(), DeviceSpec::NdArray);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        assert_eq!(DeviceSpec::Cuda(3).to_string(), "cuda:3");
    }

    #[test]
    fn unknown_device_is_typed_error() {
        for bad in ["tpu", "cuda:x", "cuda:", ""] {
            match bad.parse::<DeviceSpec>() {
                Err(Error::UnknownDevice { spec }) => assert_eq!(spec, bad),
                other => panic!("{bad}: expected UnknownDevice, got {other:?}"),
            }
        }
    }

    #[test]
    fn cpu_device_works() {
        let device = device_from_str("cpu").unwrap();
        let t = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &device);
        assert_eq!(t.sum().into_scalar::<f32>(), 3.0);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_not_compiled_is_typed_error() {
        match device_from_str("cuda:0") {
            Err(Error::DeviceNotCompiled { feature, .. }) => assert_eq!(feature, "cuda"),
            other => panic!("expected DeviceNotCompiled, got {other:?}"),
        }
    }

    #[cfg(not(feature = "ndarray"))]
    #[test]
    fn ndarray_not_compiled_is_typed_error() {
        assert!(matches!(device_from_str("ndarray"), Err(Error::DeviceNotCompiled { .. })));
    }
}
