//! One direction of one recurrent layer: fused gate weights in PyTorch's layout.

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::{gru, lstm, rnn};

/// The recurrence a layer runs.
///
/// | kind | gates `G` | gate order in the fused weights (PyTorch's) |
/// |---|---|---|
/// | [`CellKind::Rnn`] | 1 | `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)` |
/// | [`CellKind::Lstm`] | 4 | input `i`, forget `f`, cell `g`, output `o` |
/// | [`CellKind::Gru`] | 3 | reset `r`, update `z`, new `n` |
///
/// ```
/// use kindling_seq::CellKind;
/// assert_eq!(CellKind::Lstm.num_gates(), 4);
/// assert_eq!("gru".parse::<CellKind>()?, CellKind::Gru);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CellKind {
    /// Elman RNN with `tanh` (PyTorch `nn.RNN`, `nonlinearity="tanh"`).
    Rnn,
    /// Long short-term memory (PyTorch `nn.LSTM`, no projection).
    Lstm,
    /// Gated recurrent unit (PyTorch `nn.GRU`).
    Gru,
}

impl CellKind {
    /// Number of gates stacked in the fused weights.
    pub fn num_gates(self) -> usize {
        match self {
            CellKind::Rnn => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// Whether the state carries a cell tensor `c` besides `h` (LSTM only).
    pub fn has_cell_state(self) -> bool {
        self == CellKind::Lstm
    }

    /// Lower-case name: `rnn`, `lstm` or `gru`.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Rnn => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CellKind {
    type Err = crate::SeqError;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rnn" => Ok(CellKind::Rnn),
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            _ => Err(crate::SeqError::Config(format!("unknown cell kind `{s}`: expected rnn, lstm or gru"))),
        }
    }
}

/// Weights of one direction of one layer, in PyTorch's layout so that state dicts load as-is.
///
/// `weight_ih` is `[G*H, I]`, `weight_hh` is `[G*H, H]`, and the optional biases are `[G*H]`,
/// with the `G` gates stacked in PyTorch's order (see [`CellKind`]). Both biases are kept
/// because the GRU's new gate uses `b_hn` inside `r * (W_hn h + b_hn)`.
///
/// Cells are built by [`RecurrentConfig::init`](crate::RecurrentConfig::init); use them through
/// [`Recurrent`](crate::Recurrent).
///
/// ```
/// use kindling_seq::{CellKind, RecurrentConfig};
/// let device = kindling_core::default_device();
/// let rnn = RecurrentConfig::new(CellKind::Gru, 5, 7).init(&device)?;
/// let cell = &rnn.layers[0].forward;
/// assert_eq!(cell.weight_ih.dims(), [21, 5]);
/// assert_eq!(cell.weight_hh.dims(), [21, 7]);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Module, Debug)]
pub struct RecurrentCell {
    /// Input-to-hidden weights `[G*H, I]`.
    pub weight_ih: Param<Tensor<2>>,
    /// Hidden-to-hidden weights `[G*H, H]`.
    pub weight_hh: Param<Tensor<2>>,
    /// Input-to-hidden bias `[G*H]`.
    pub bias_ih: Option<Param<Tensor<1>>>,
    /// Hidden-to-hidden bias `[G*H]`.
    pub bias_hh: Option<Param<Tensor<1>>>,
    /// The recurrence.
    #[module(skip)]
    pub kind: CellKind,
    /// Hidden size `H`.
    pub hidden_size: usize,
}

/// A cell's tensors arranged once per forward pass (transposed weights, folded biases).
pub(crate) struct PreparedCell {
    kind: CellKind,
    hidden_size: usize,
    /// `weight_ih` transposed, `[I, G*H]`.
    w_ih_t: Tensor<2>,
    /// `weight_hh` transposed, `[H, G*H]`.
    w_hh_t: Tensor<2>,
    /// Added to every projected input: `b_ih + b_hh` (RNN, LSTM) or `b_ih + [b_hr, b_hz, 0]` (GRU).
    bias_in: Option<Tensor<2>>,
    /// GRU only: `b_hn` `[1, H]`, added inside the reset product.
    b_hn: Option<Tensor<2>>,
    /// LSTM only: `[1, 4H]`, 1 except 2 on the cell gate (see [`lstm::step`]).
    lstm_scale: Option<Tensor<2>>,
}

impl RecurrentCell {
    /// A cell initialised like PyTorch: every tensor uniform in `±1/sqrt(hidden_size)`.
    pub(crate) fn new(kind: CellKind, input_size: usize, hidden_size: usize, bias: bool, device: &Device) -> Self {
        let k = 1.0 / (hidden_size as f64).sqrt();
        let init = Initializer::Uniform { min: -k, max: k };
        let g = kind.num_gates() * hidden_size;
        Self {
            weight_ih: init.init([g, input_size], device),
            weight_hh: init.init([g, hidden_size], device),
            bias_ih: bias.then(|| init.init([g], device)),
            bias_hh: bias.then(|| init.init([g], device)),
            kind,
            hidden_size,
        }
    }

    /// Input size `I`.
    pub fn input_size(&self) -> usize {
        self.weight_ih.dims()[1]
    }

    /// Whether `weight_ih` takes part in an autodiff graph (training).
    pub(crate) fn is_tracked(&self) -> bool {
        self.weight_ih.val().is_tracked()
    }

    /// Transposes the weights and folds the biases for one forward pass, with `weight_hh` the
    /// cell's recurrent matrix (or it under weight dropout: one mask for every step of the pass).
    pub(crate) fn prepare(&self, weight_hh: Tensor<2>) -> PreparedCell {
        let h = self.hidden_size;
        let w_ih = self.weight_ih.val();
        let device = w_ih.device();
        let bi = self.bias_ih.as_ref().map(|b| b.val());
        let bh = self.bias_hh.as_ref().map(|b| b.val());
        let (bh_in, b_hn) = match (self.kind, bh) {
            // The GRU keeps b_hn apart: it is multiplied by the reset gate.
            (CellKind::Gru, Some(bh)) => {
                let rz = bh.clone().narrow(0, 0, 2 * h);
                let rz0 = Tensor::cat(vec![rz, Tensor::zeros([h], &device)], 0);
                (Some(rz0), Some(bh.narrow(0, 2 * h, h).unsqueeze()))
            }
            (_, bh) => (bh, None),
        };
        let bias_in = match (bi, bh_in) {
            (Some(a), Some(b)) => Some((a + b).unsqueeze()),
            (Some(a), None) | (None, Some(a)) => Some(a.unsqueeze()),
            (None, None) => None,
        };
        let lstm_scale = (self.kind == CellKind::Lstm).then(|| {
            let mut s = vec![1.0f32; 4 * h];
            s[2 * h..3 * h].fill(2.0);
            Tensor::<1>::from_floats(s.as_slice(), &device).unsqueeze()
        });
        PreparedCell {
            kind: self.kind,
            hidden_size: h,
            w_ih_t: w_ih.transpose(),
            w_hh_t: weight_hh.transpose(),
            bias_in,
            b_hn,
            lstm_scale,
        }
    }
}

impl PreparedCell {
    /// Projects a time-major input `[T*B, I]` for all time steps in one matmul: `[T*B, G*H]`.
    pub(crate) fn project_all(&self, input: Tensor<2>) -> Tensor<2> {
        self.add_bias(input.matmul(self.w_ih_t.clone()))
    }

    /// Projects one time step `[B, I]`: `[B, G*H]`.
    pub(crate) fn project_step(&self, input: Tensor<2>) -> Tensor<2> {
        self.add_bias(input.matmul(self.w_ih_t.clone()))
    }

    fn add_bias(&self, x: Tensor<2>) -> Tensor<2> {
        match &self.bias_in {
            Some(b) => x + b.clone(),
            None => x,
        }
    }

    /// One step of the recurrence from the projected input `xp` `[B, G*H]`.
    ///
    /// Returns the new `h` and, for LSTM, the new `c` (`c` must be given for LSTM).
    pub(crate) fn step(&self, xp: Tensor<2>, h: Tensor<2>, c: Option<Tensor<2>>) -> (Tensor<2>, Option<Tensor<2>>) {
        let hidden = h.clone().matmul(self.w_hh_t.clone());
        match (self.kind, c, &self.lstm_scale) {
            (CellKind::Lstm, Some(c), Some(scale)) => {
                let (h, c) = lstm::step(xp + hidden, c, scale.clone(), self.hidden_size);
                (h, Some(c))
            }
            (CellKind::Gru, ..) => (gru::step(xp, hidden, h, self.b_hn.clone(), self.hidden_size), None),
            _ => (rnn::step(xp + hidden), None),
        }
    }
}
