//! FLOP counts of the benchmark models: 2 × multiply-adds of every convolution and linear layer
//! (activations, normalisation, pooling and the optimizer are not counted), the convention of
//! published GFLOP figures. A training step counts 3 × the forward pass (forward, gradients of the
//! inputs and of the weights).

use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PaddingConfig2d};
use kindling_vision::efficientnet::EfficientNetLite;
use kindling_vision::{ResNet, Vgg, VisionModel};

/// Output size of one spatial dimension and the padding before it.
fn out_size(size: usize, kernel: usize, stride: usize, pad: (usize, usize)) -> usize {
    (size + pad.0 + pad.1 - kernel) / stride + 1
}

fn pads(p: &PaddingConfig2d, h: usize, w: usize, k: [usize; 2], s: [usize; 2]) -> ((usize, usize), (usize, usize)) {
    let same = |size: usize, k: usize, s: usize| {
        let out = size.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(size);
        (total / 2, total - total / 2)
    };
    match *p {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Same => (same(h, k[0], s[0]), same(w, k[1], s[1])),
        PaddingConfig2d::Explicit(t, l, b, r) => ((t, b), (l, r)),
    }
}

/// FLOPs of `conv` on a `[n, _, h, w]` input and the output's spatial size.
pub fn conv(c: &Conv2d, n: usize, h: usize, w: usize) -> (f64, usize, usize) {
    let [cout, cin_g, kh, kw] = c.weight.dims();
    let (ph, pw) = pads(&c.padding, h, w, [kh, kw], c.stride);
    let (oh, ow) = (out_size(h, kh, c.stride[0], ph), out_size(w, kw, c.stride[1], pw));
    (2.0 * (n * oh * ow * cout * cin_g * kh * kw) as f64, oh, ow)
}

/// FLOPs of `linear` on `n` rows.
pub fn linear(l: &Linear, n: usize) -> f64 {
    let [i, o] = l.weight.dims();
    2.0 * (n * i * o) as f64
}

fn resnet(m: &ResNet, n: usize, h: usize, w: usize) -> f64 {
    let (mut f, mut h, mut w) = conv(&m.stem.conv, n, h, w);
    if m.stem.pool.is_some() {
        (h, w) = (out_size(h, 3, 2, (1, 1)), out_size(w, 3, 2, (1, 1)));
    }
    for block in m.layer1.iter().chain(&m.layer2).chain(&m.layer3).chain(&m.layer4) {
        if let Some(d) = &block.downsample {
            f += conv(&d.conv, n, h, w).0;
        }
        let (f1, h1, w1) = conv(&block.conv1, n, h, w);
        let (f2, h2, w2) = conv(&block.conv2, n, h1, w1);
        f += f1 + f2;
        (h, w) = (h2, w2);
        if let Some(c3) = &block.conv3 {
            f += conv(c3, n, h, w).0;
        }
    }
    f + linear(&m.head, n)
}

fn vgg(m: &Vgg, n: usize, mut h: usize, mut w: usize) -> f64 {
    let mut f = 0.0;
    for block in m.blocks() {
        for unit in block {
            let (fc, oh, ow) = conv(&unit.conv, n, h, w);
            f += fc;
            (h, w) = (oh, ow);
        }
        (h, w) = (h / 2, w / 2);
    }
    f + linear(&m.head.fc1, n) + linear(&m.head.fc2, n) + linear(&m.head.fc3, n)
}

fn efficientnet(m: &EfficientNetLite, n: usize, h: usize, w: usize) -> f64 {
    let (mut f, mut h, mut w) = conv(&m.stem.conv, n, h, w);
    for stage in m.stages() {
        for block in stage {
            if let Some(e) = &block.expand {
                f += conv(&e.conv, n, h, w).0;
            }
            let (fd, oh, ow) = conv(&block.depthwise.conv, n, h, w);
            (h, w) = (oh, ow);
            f += fd + conv(&block.project.conv, n, h, w).0;
        }
    }
    f + conv(&m.top.conv, n, h, w).0 + linear(&m.head, n)
}

/// Forward FLOPs of `model` on `[n, 3, h, w]` images.
pub fn vision(model: &VisionModel, n: usize, h: usize, w: usize) -> f64 {
    match model {
        VisionModel::ResNet(m) => resnet(m, n, h, w),
        VisionModel::Vgg(m) => vgg(m, n, h, w),
        VisionModel::EfficientNet(m) => efficientnet(m, n, h, w),
    }
}

/// Forward FLOPs of one recurrent layer direction over `t` steps of `b` sequences: the input
/// projection and the recurrent matmul of every step (`gates` = 4 for LSTM, 3 for GRU).
pub fn recurrent(gates: usize, input: usize, hidden: usize, t: usize, b: usize) -> f64 {
    2.0 * (t * b * gates * hidden * (input + hidden)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use kindling_vision::Arch;

    #[test]
    fn published_counts() {
        let device = kindling_core::default_device();
        // torchvision's documented GFLOPS (multiply-adds): ResNet-18 1.81, VGG-16 15.47.
        let r18 = vision(&Arch::Resnet18.init(1000, &device), 1, 224, 224) / 2e9;
        assert!((r18 - 1.81).abs() < 0.01, "resnet18 {r18}");
        let v16 = vision(&Arch::Vgg16.init(1000, &device), 1, 224, 224) / 2e9;
        assert!((v16 - 15.47).abs() < 0.02, "vgg16 {v16}");
        // EfficientNet-Lite0: ~0.40 G multiply-adds.
        let e0 = vision(&Arch::EfficientnetLite0.init(1000, &device), 1, 224, 224) / 2e9;
        assert!((e0 - 0.40).abs() < 0.03, "efficientnet-lite0 {e0}");
    }
}
