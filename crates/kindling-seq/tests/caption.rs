//! The captioner's memory: a strip's memory does not depend on the padding of its batch, and
//! memory columns of identical content at different places differ (column positions).
#![allow(clippy::unwrap_used)]

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use kindling_core::tensor::{max_abs_diff, to_vec_f32};
use kindling_seq::attn_decoder::AttentionDecoderConfig;
use kindling_seq::caption::{Captioner, DIGIT_SIZE, DigitStrip, ImageEncoder, caption_vocab, collate_strips};
use kindling_seq::decode::BeamConfig;
use rand::Rng;

/// Two biased 3×3 convolutions, no stride: one column per pixel column. The bias makes zero
/// padding non-zero after the first layer, so padding would leak into the last valid columns.
#[derive(Module, Debug)]
struct TinyEncoder {
    conv1: Conv2d,
    conv2: Conv2d,
}

const COLUMN: usize = 4;

impl TinyEncoder {
    fn new(device: &Device) -> Self {
        let conv = |cin| Conv2dConfig::new([cin, COLUMN], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1));
        Self { conv1: conv(1).init(device), conv2: conv(COLUMN).init(device) }
    }
}

impl ImageEncoder for TinyEncoder {
    fn columns(&self, images: Tensor<4>) -> Tensor<3> {
        let x = self.conv2.forward(relu(self.conv1.forward(images)));
        let [b, c, _, w] = x.dims();
        x.mean_dim(2).reshape([b, c, w]).swap_dims(1, 2)
    }

    fn column_size(&self) -> usize {
        COLUMN
    }
}

fn captioner(device: &Device) -> Captioner<TinyEncoder> {
    let decoder = AttentionDecoderConfig::new(caption_vocab().len(), COLUMN)
        .with_summary_size(COLUMN)
        .with_hidden_size(8)
        .with_embedding_dim(4)
        .with_dropout(0.0)
        .init(device)
        .unwrap();
    Captioner::new(TinyEncoder::new(device), decoder)
}

fn strip(digits: usize, seed: u64) -> DigitStrip {
    let width = DIGIT_SIZE * digits;
    let mut rng = kindling_core::seeded_rng(seed);
    let pixels = (0..DIGIT_SIZE * width).map(|_| rng.random::<f32>()).collect();
    DigitStrip { digits: vec![1; digits], pixels, width }
}

/// Memory values `[L, D]` (valid columns only) and initial hidden state of row `row`.
fn memory_of(model: &Captioner<TinyEncoder>, images: Tensor<4>, widths: &[usize], row: usize) -> (Vec<f32>, Vec<f32>) {
    let enc = model.encode(images, widths).unwrap();
    let len = enc.memory.lengths[row];
    let values = enc.memory.values.narrow(0, row, 1).narrow(1, 0, len);
    let h = enc.state.h[0].clone().narrow(0, row, 1);
    (to_vec_f32(values).unwrap(), to_vec_f32(h).unwrap())
}

#[test]
fn padded_batches_give_each_strip_its_own_memory() {
    let device = kindling_core::default_device();
    let model = captioner(&device);
    let strips = [strip(3, 1), strip(1, 2), strip(2, 3), strip(1, 4)];
    let refs: Vec<&DigitStrip> = strips.iter().collect();
    let batch = collate_strips(&refs, &device).unwrap();
    for (row, s) in strips.iter().enumerate() {
        let alone = collate_strips(&[s], &device).unwrap();
        let (m1, h1) = memory_of(&model, alone.images, &alone.widths, 0);
        assert_eq!(m1.len(), s.width * COLUMN);
        let (m, h) = memory_of(&model, batch.images.clone(), &batch.widths, row);
        assert_eq!(m.len(), m1.len(), "strip {row}: memory length");
        assert!(max_abs_diff(&m, &m1) < 1e-5, "strip {row}: memory differs in a padded batch");
        assert!(max_abs_diff(&h, &h1) < 1e-5, "strip {row}: initial state differs in a padded batch");
    }
}

#[test]
fn padding_values_never_reach_the_encoder() {
    let device = kindling_core::default_device();
    let model = captioner(&device);
    let (a, b) = (strip(1, 5), strip(2, 6));
    let w = b.width;
    // Row 0: strip `a` padded with NaN; row 1: strip `b`.
    let mut pixels = vec![f32::NAN; 2 * DIGIT_SIZE * w];
    for r in 0..DIGIT_SIZE {
        pixels[r * w..r * w + a.width].copy_from_slice(&a.pixels[r * a.width..(r + 1) * a.width]);
        pixels[(DIGIT_SIZE + r) * w..(DIGIT_SIZE + r + 1) * w].copy_from_slice(&b.pixels[r * w..(r + 1) * w]);
    }
    let images = Tensor::<4>::from_data(TensorData::new(pixels, [2, 1, DIGIT_SIZE, w]), &device);
    let alone = collate_strips(&[&a], &device).unwrap();
    let (m1, _) = memory_of(&model, alone.images, &alone.widths, 0);
    let (m, h) = memory_of(&model, images.clone(), &[a.width, w], 0);
    assert!(m.iter().chain(&h).all(|v| v.is_finite()), "padding reached the memory");
    assert!(max_abs_diff(&m, &m1) < 1e-5);
    // Greedy decoding of the NaN-padded batch works and writes at most `max_len` tokens.
    let captions = model.caption(images.clone(), &[a.width, w], &BeamConfig::new().with_width(1).with_max_len(6));
    assert!(captions.unwrap().iter().all(|c| c.len() <= 6));
    // A width wider than the images, or zero, is a typed error.
    assert!(model.encode(images.clone(), &[0, w]).is_err());
    assert!(model.encode(images, &[a.width, w + 1]).is_err());
}

#[test]
fn memory_tells_positions_apart() {
    let device = kindling_core::default_device();
    // One digit image repeated three times: the columns of the middle digit and of the last
    // one look alike to a narrow convolution.
    let one = strip(1, 7);
    let width = 3 * DIGIT_SIZE;
    let pixels: Vec<f32> = (0..DIGIT_SIZE)
        .flat_map(|r| {
            (0..3).flat_map(|_| one.pixels[r * DIGIT_SIZE..(r + 1) * DIGIT_SIZE].to_vec()).collect::<Vec<_>>()
        })
        .collect();
    let s = DigitStrip { digits: vec![1, 1, 1], pixels, width };
    let batch = collate_strips(&[&s], &device).unwrap();
    let column = |m: &[f32], c: usize| m[c * COLUMN..(c + 1) * COLUMN].to_vec();
    let (middle, last) = (DIGIT_SIZE + 10, 2 * DIGIT_SIZE + 10);
    let plain = captioner(&device).with_positions(false);
    let (m, _) = memory_of(&plain, batch.images.clone(), &batch.widths, 0);
    assert!(max_abs_diff(&column(&m, middle), &column(&m, last)) < 1e-5, "content-only columns should match");
    let model = captioner(&device);
    assert!(model.positions);
    let (m, _) = memory_of(&model, batch.images, &batch.widths, 0);
    assert!(max_abs_diff(&column(&m, middle), &column(&m, last)) > 1e-2, "positions must tell the columns apart");
}
