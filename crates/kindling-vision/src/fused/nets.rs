//! The fused forms of ResNet, VGG and EfficientNet-Lite: the same layers in the same order, with
//! BatchNorm folded, activations and residual adds fused into the convolution that precedes them.

use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2d;
use kindling_core::{Error, Result};

use super::conv::ConvLayer;
use super::linear::LinearLayer;
use super::map::{Act, Map, Scratch, adaptive_avg_pool, global_avg_pool, max_pool};
use crate::efficientnet::EfficientNetLite;
use crate::{ResNet, Vgg};

/// A square max-pool window with symmetric padding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pool {
    k: usize,
    stride: usize,
    pad: usize,
}

impl Pool {
    fn new(p: &MaxPool2d) -> Result<Self> {
        let pad = match p.padding {
            PaddingConfig2d::Valid => Some(0),
            PaddingConfig2d::Explicit(t, l, b, r) if t == l && l == b && b == r => Some(t),
            _ => None,
        };
        match pad {
            Some(pad)
                if p.kernel_size[0] == p.kernel_size[1]
                    && p.stride[0] == p.stride[1]
                    && p.dilation == [1, 1]
                    && !p.ceil_mode =>
            {
                Ok(Pool { k: p.kernel_size[0], stride: p.stride[0], pad })
            }
            _ => Err(Error::Config(format!("fused max-pool: unsupported window {p:?}"))),
        }
    }

    fn forward(&self, x: &Map, s: &Scratch) -> Map {
        max_pool(x, self.k, self.stride, self.pad, s)
    }
}

/// A residual block: `conv1` (ReLU), `conv2`, optional `conv3`, optional projection shortcut.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    conv1: ConvLayer,
    conv2: ConvLayer,
    conv3: Option<ConvLayer>,
    downsample: Option<ConvLayer>,
}

/// Fused ResNet (any depth, standard or small-input stem).
#[derive(Debug, Clone)]
pub(crate) struct FusedResNet {
    stem: ConvLayer,
    pool: Option<Pool>,
    blocks: Vec<Block>,
    pub head: LinearLayer,
}

impl FusedResNet {
    pub fn new(m: &ResNet) -> Result<Self> {
        let blocks = m
            .layer1
            .iter()
            .chain(&m.layer2)
            .chain(&m.layer3)
            .chain(&m.layer4)
            .map(|b| {
                let conv3 = match (&b.conv3, &b.bn3) {
                    (Some(c), bn) => Some(ConvLayer::new(c, bn.as_ref())?),
                    (None, _) => None,
                };
                Ok(Block {
                    conv1: ConvLayer::new(&b.conv1, Some(&b.bn1))?,
                    conv2: ConvLayer::new(&b.conv2, Some(&b.bn2))?,
                    conv3,
                    downsample: b.downsample.as_ref().map(|d| ConvLayer::new(&d.conv, Some(&d.bn))).transpose()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            stem: ConvLayer::new(&m.stem.conv, Some(&m.stem.bn))?,
            pool: m.stem.pool.as_ref().map(Pool::new).transpose()?,
            blocks,
            head: LinearLayer::new(&m.head)?,
        })
    }

    pub fn in_channels(&self) -> usize {
        self.stem.cin
    }

    /// Globally pooled features `[n, num_features]`.
    pub fn features(&self, x: &Map, s: &Scratch) -> Vec<f32> {
        let mut x = self.stem.forward(x, None, Act::Relu, s);
        if let Some(p) = &self.pool {
            let pooled = p.forward(&x, s);
            std::mem::replace(&mut x, pooled).recycle(s);
        }
        for b in &self.blocks {
            let projected = b.downsample.as_ref().map(|d| d.forward(&x, None, Act::None, s));
            let identity = projected.as_ref().unwrap_or(&x);
            let y = b.conv1.forward(&x, None, Act::Relu, s);
            let next = match &b.conv3 {
                None => b.conv2.forward(&y, Some(identity), Act::Relu, s),
                Some(c3) => {
                    let z = b.conv2.forward(&y, None, Act::Relu, s);
                    let out = c3.forward(&z, Some(identity), Act::Relu, s);
                    z.recycle(s);
                    out
                }
            };
            y.recycle(s);
            if let Some(p) = projected {
                p.recycle(s);
            }
            std::mem::replace(&mut x, next).recycle(s);
        }
        let features = global_avg_pool(&x);
        x.recycle(s);
        features
    }
}

/// Fused VGG (with or without BatchNorm).
#[derive(Debug, Clone)]
pub(crate) struct FusedVgg {
    blocks: Vec<Vec<ConvLayer>>,
    pool: Pool,
    pub fc1: LinearLayer,
    pub fc2: LinearLayer,
    pub fc3: LinearLayer,
}

impl FusedVgg {
    pub fn new(m: &Vgg) -> Result<Self> {
        Ok(Self {
            blocks: Self::convs(m)?,
            pool: Pool::new(&m.pool)?,
            fc1: LinearLayer::new(&m.head.fc1)?,
            fc2: LinearLayer::new(&m.head.fc2)?,
            fc3: LinearLayer::new(&m.head.fc3)?,
        })
    }

    /// Consumes `m`, moving the classifier's weights (over 100M parameters) instead of copying.
    pub fn from_owned(m: Vgg) -> Result<Self> {
        let (blocks, pool) = (Self::convs(&m)?, Pool::new(&m.pool)?);
        let head = m.head;
        Ok(Self {
            blocks,
            pool,
            fc1: LinearLayer::from_owned(head.fc1)?,
            fc2: LinearLayer::from_owned(head.fc2)?,
            fc3: LinearLayer::from_owned(head.fc3)?,
        })
    }

    fn convs(m: &Vgg) -> Result<Vec<Vec<ConvLayer>>> {
        m.blocks()
            .iter()
            .map(|b| b.iter().map(|u| ConvLayer::new(&u.conv, u.bn.as_ref())).collect::<Result<Vec<_>>>())
            .collect()
    }

    pub fn in_channels(&self) -> usize {
        self.blocks.first().and_then(|b| b.first()).map_or(3, |c| c.cin)
    }

    /// The flattened 7×7 average pool `[n, 512*7*7]`, in burn's (NCHW) order.
    pub fn features(&self, input: &Map, s: &Scratch) -> Vec<f32> {
        let mut x: Option<Map> = None;
        for block in &self.blocks {
            for conv in block {
                let next = conv.forward(x.as_ref().unwrap_or(input), None, Act::Relu, s);
                if let Some(old) = x.replace(next) {
                    old.recycle(s);
                }
            }
            let pooled = self.pool.forward(x.as_ref().unwrap_or(input), s);
            if let Some(old) = x.replace(pooled) {
                old.recycle(s);
            }
        }
        let features = adaptive_avg_pool(x.as_ref().unwrap_or(input), 7, 7).to_nchw();
        if let Some(x) = x {
            x.recycle(s);
        }
        features
    }

    pub fn logits(&self, features: &[f32]) -> Vec<f32> {
        let h = self.fc2.forward(&self.fc1.forward(features, Act::Relu), Act::Relu);
        self.fc3.forward(&h, Act::None)
    }
}

/// A mobile inverted bottleneck: expansion (ReLU6), depthwise (ReLU6), linear projection.
#[derive(Debug, Clone)]
pub(crate) struct MbBlock {
    expand: Option<ConvLayer>,
    depthwise: ConvLayer,
    project: ConvLayer,
    residual: bool,
}

/// Fused EfficientNet-Lite (inference: no dropout, no drop-connect).
#[derive(Debug, Clone)]
pub(crate) struct FusedEfficientNet {
    stem: ConvLayer,
    blocks: Vec<MbBlock>,
    top: ConvLayer,
    pub head: LinearLayer,
}

impl FusedEfficientNet {
    pub fn new(m: &EfficientNetLite) -> Result<Self> {
        let blocks = m
            .stages()
            .into_iter()
            .flatten()
            .map(|b| {
                Ok(MbBlock {
                    expand: b.expand.as_ref().map(|e| ConvLayer::new(&e.conv, Some(&e.bn))).transpose()?,
                    depthwise: ConvLayer::new(&b.depthwise.conv, Some(&b.depthwise.bn))?,
                    project: ConvLayer::new(&b.project.conv, Some(&b.project.bn))?,
                    residual: b.residual,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            stem: ConvLayer::new(&m.stem.conv, Some(&m.stem.bn))?,
            blocks,
            top: ConvLayer::new(&m.top.conv, Some(&m.top.bn))?,
            head: LinearLayer::new(&m.head)?,
        })
    }

    pub fn in_channels(&self) -> usize {
        self.stem.cin
    }

    /// Globally pooled features `[n, 1280]`.
    pub fn features(&self, x: &Map, s: &Scratch) -> Vec<f32> {
        let mut x = self.stem.forward(x, None, Act::Relu6, s);
        for b in &self.blocks {
            let expanded = b.expand.as_ref().map(|e| e.forward(&x, None, Act::Relu6, s));
            let y = b.depthwise.forward(expanded.as_ref().unwrap_or(&x), None, Act::Relu6, s);
            let next = b.project.forward(&y, b.residual.then_some(&x), Act::None, s);
            y.recycle(s);
            if let Some(e) = expanded {
                e.recycle(s);
            }
            std::mem::replace(&mut x, next).recycle(s);
        }
        let top = self.top.forward(&x, None, Act::Relu6, s);
        x.recycle(s);
        let features = global_avg_pool(&top);
        top.recycle(s);
        features
    }
}
