//! Stacked, optionally bidirectional recurrent layers with PyTorch's interface.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Device, Tensor};

use crate::cell::{CellKind, PreparedCell, RecurrentCell};
use crate::padding::{Padding, slice_steps, split_steps};
use crate::{Result, SeqError};

/// Configuration of a [`Recurrent`] stack, mirroring PyTorch's `nn.RNN` / `nn.LSTM` / `nn.GRU`
/// arguments (always batch-first).
///
/// ```
/// use kindling_seq::{CellKind, RecurrentConfig};
/// let device = kindling_core::default_device();
/// let config = RecurrentConfig::new(CellKind::Lstm, 128, 256)
///     .with_num_layers(2)
///     .with_bidirectional(true)
///     .with_dropout(0.2);
/// let lstm = config.init(&device)?;
/// assert_eq!(lstm.output_size(), 512);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Config, Debug)]
pub struct RecurrentConfig {
    /// The recurrence: RNN (tanh), LSTM or GRU.
    pub kind: CellKind,
    /// Features per input time step `I`.
    pub input_size: usize,
    /// Features of the hidden state `H`.
    pub hidden_size: usize,
    /// Number of stacked layers `L`.
    #[config(default = 1)]
    pub num_layers: usize,
    /// Whether each layer also runs right-to-left (`D = 2`), concatenating both directions.
    #[config(default = false)]
    pub bidirectional: bool,
    /// Dropout probability on the outputs of every layer but the last (training only).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Weight dropout (DropConnect on the recurrent matrices, as in AWD-LSTM): in training, each
    /// entry of every `weight_hh` is zeroed with this probability (the rest scaled by
    /// `1 / (1 - p)`), one mask per forward pass shared by all its time steps. Regularises the
    /// recurrence itself, which dropout between layers leaves alone.
    #[config(default = 0.0)]
    pub weight_dropout: f64,
    /// Whether the cells have the biases `b_ih` and `b_hh`.
    #[config(default = true)]
    pub bias: bool,
}

impl RecurrentConfig {
    /// Checks the configuration without building anything.
    ///
    /// ```
    /// use kindling_seq::{CellKind, RecurrentConfig};
    /// assert!(RecurrentConfig::new(CellKind::Gru, 4, 0).validate().is_err());
    /// assert!(RecurrentConfig::new(CellKind::Gru, 4, 8).with_dropout(1.0).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SeqError::Config(m));
        if self.input_size == 0 || self.hidden_size == 0 {
            return bad(format!(
                "input_size ({}) and hidden_size ({}) must be positive",
                self.input_size, self.hidden_size
            ));
        }
        if self.num_layers == 0 {
            return bad("num_layers must be at least 1".into());
        }
        for (name, p) in [("dropout", self.dropout), ("weight_dropout", self.weight_dropout)] {
            if !p.is_finite() || !(0.0..1.0).contains(&p) {
                return bad(format!("{name} must be in [0, 1), got {p}"));
            }
        }
        Ok(())
    }

    /// Builds the stack on `device`, initialised like PyTorch (uniform in `±1/sqrt(H)`).
    pub fn init(&self, device: &Device) -> Result<Recurrent> {
        self.validate()?;
        let dirs = if self.bidirectional { 2 } else { 1 };
        let layers = (0..self.num_layers)
            .map(|l| {
                let input = if l == 0 { self.input_size } else { dirs * self.hidden_size };
                let cell = || RecurrentCell::new(self.kind, input, self.hidden_size, self.bias, device);
                RecurrentLayer { forward: cell(), reverse: self.bidirectional.then(cell) }
            })
            .collect();
        Ok(Recurrent {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            weight_dropout: DropoutConfig::new(self.weight_dropout).init(),
            kind: self.kind,
            input_size: self.input_size,
            hidden_size: self.hidden_size,
            bidirectional: self.bidirectional,
        })
    }
}

/// One layer of a [`Recurrent`] stack: a left-to-right cell and, if bidirectional, a
/// right-to-left one (PyTorch's `_reverse` weights).
///
/// ```
/// use kindling_seq::{CellKind, RecurrentConfig};
/// let device = kindling_core::default_device();
/// let lstm = RecurrentConfig::new(CellKind::Lstm, 3, 4)
///     .with_num_layers(2)
///     .with_bidirectional(true)
///     .init(&device)?;
/// // The second layer reads both directions of the first: [4 gates * 4, 2 * 4].
/// let reverse = lstm.layers[1].reverse.as_ref().expect("bidirectional");
/// assert_eq!(reverse.weight_ih.dims(), [16, 8]);
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Module, Debug)]
pub struct RecurrentLayer {
    /// Left-to-right cell.
    pub forward: RecurrentCell,
    /// Right-to-left cell of a bidirectional layer.
    pub reverse: Option<RecurrentCell>,
}

/// Hidden (and, for LSTM, cell) states of every layer and direction, `[L*D, B, H]` each,
/// ordered like PyTorch: layer 0 forward, layer 0 reverse, layer 1 forward, ...
///
/// ```
/// use burn::tensor::Tensor;
/// use kindling_seq::RecurrentState;
/// let device = kindling_core::default_device();
/// let state = RecurrentState::new(Tensor::zeros([2, 3, 4], &device), None);
/// assert_eq!(state.h.dims(), [2, 3, 4]);
/// ```
#[derive(Debug, Clone)]
pub struct RecurrentState {
    /// Hidden states `h`, `[L*D, B, H]`.
    pub h: Tensor<3>,
    /// LSTM cell states `c`, `[L*D, B, H]`; `None` for RNN and GRU.
    pub c: Option<Tensor<3>>,
}

impl RecurrentState {
    /// A state from its tensors.
    pub fn new(h: Tensor<3>, c: Option<Tensor<3>>) -> Self {
        Self { h, c }
    }

    /// Zero states for `batch` sequences, as PyTorch uses when no state is given.
    ///
    /// ```
    /// use kindling_seq::{CellKind, RecurrentConfig, RecurrentState};
    /// let device = kindling_core::default_device();
    /// let lstm = RecurrentConfig::new(CellKind::Lstm, 3, 4).with_num_layers(2).init(&device)?;
    /// let s = RecurrentState::zeros(&lstm, 5, &device);
    /// assert_eq!(s.h.dims(), [2, 5, 4]);
    /// assert!(s.c.is_some());
    /// # Ok::<(), kindling_seq::SeqError>(())
    /// ```
    pub fn zeros(rnn: &Recurrent, batch: usize, device: &Device) -> Self {
        let shape = [rnn.layers.len() * rnn.num_directions(), batch, rnn.hidden_size];
        Self { h: Tensor::zeros(shape, device), c: rnn.kind.has_cell_state().then(|| Tensor::zeros(shape, device)) }
    }
}

/// Stacked, optionally bidirectional RNN / LSTM / GRU layers, batch-first, with ragged batches.
///
/// Weights are stored in PyTorch's fused layout (one `[G*H, I]` input and one `[G*H, H]`
/// recurrent matrix per cell), so PyTorch state dicts load directly with
/// [`Recurrent::load_state_dict`]. Each step runs one recurrent matmul. Without autodiff the
/// input projection of all time steps is one matmul; under autodiff each step projects its own
/// input, because burn's backward pass expands the gradient of every slice of a tensor to the
/// whole tensor, which would make slicing a `[T*B, G*H]` projection cost `O(T^2)`. Inference on
/// the CPU backend (burn-flex, no autodiff) runs the same arithmetic on host buffers, without
/// burn's per-operation overhead, with each direction's batch split over the threads.
///
/// ```
/// use burn::tensor::{Distribution, Tensor};
/// use kindling_seq::{CellKind, RecurrentConfig};
///
/// let device = kindling_core::default_device();
/// let gru = RecurrentConfig::new(CellKind::Gru, 8, 16)
///     .with_num_layers(2)
///     .with_bidirectional(true)
///     .init(&device)?;
/// let x = Tensor::<3>::random([3, 5, 8], Distribution::Normal(0.0, 1.0), &device);
/// // Ragged batch: the sequences are 5, 2 and 4 steps long.
/// let (out, state) = gru.forward(x, Some(&[5, 2, 4]), None)?;
/// assert_eq!(out.dims(), [3, 5, 32]);
/// assert_eq!(state.h.dims(), [4, 3, 16]);
/// assert_eq!(gru.last_hidden(&state).dims(), [3, 32]); // for many-to-one heads
/// # Ok::<(), kindling_seq::SeqError>(())
/// ```
#[derive(Module, Debug)]
pub struct Recurrent {
    /// The layers, bottom first.
    pub layers: Vec<RecurrentLayer>,
    /// Dropout between layers.
    pub dropout: Dropout,
    /// Weight dropout on the recurrent matrices ([`RecurrentConfig::weight_dropout`]).
    pub weight_dropout: Dropout,
    /// The recurrence.
    #[module(skip)]
    pub kind: CellKind,
    /// Input features `I`.
    pub input_size: usize,
    /// Hidden features `H`.
    pub hidden_size: usize,
    /// Whether layers run in both directions.
    pub bidirectional: bool,
}

/// A layer's input: the whole time-major tensor or its time steps.
enum LayerInput {
    /// `[T*B, F]`, time-major.
    Whole(Box<Tensor<2>>),
    /// `T` tensors `[B, F]`.
    Steps(Vec<Tensor<2>>),
}

impl LayerInput {
    /// A tensor of the input (for its device and dtype).
    fn first(&self) -> Option<&Tensor<2>> {
        match self {
            LayerInput::Whole(x) => Some(x),
            LayerInput::Steps(s) => s.first(),
        }
    }
}

impl Recurrent {
    /// Number of directions `D` (2 if bidirectional).
    pub fn num_directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Number of stacked layers `L`.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Features per output step, `D * H`.
    pub fn output_size(&self) -> usize {
        self.num_directions() * self.hidden_size
    }

    /// `cell`'s recurrent matrix for one forward pass: under weight dropout in training, with a
    /// fresh mask; otherwise the matrix itself.
    pub(crate) fn recurrent_weight(&self, cell: &RecurrentCell) -> Tensor<2> {
        self.weight_dropout.forward(cell.weight_hh.val())
    }

    /// Runs the stack over a batch-first input `[B, T, I]`.
    ///
    /// - `lengths`: the true length of each sequence (any order, each `<= T`; `0` leaves a
    ///   sequence at its initial state). Padding never changes results: outputs at padded
    ///   positions are zero, and final states are taken at each sequence's true end (for the
    ///   reverse direction, at its first step), as with PyTorch's packed sequences.
    /// - `state`: initial states `[L*D, B, H]` (zeros when `None`; an LSTM without `c` gets zero `c`).
    ///
    /// Returns the last layer's outputs `[B, T, D*H]` (both directions concatenated, forward
    /// first) and the final states of every layer and direction.
    pub fn forward(
        &self,
        input: Tensor<3>,
        lengths: Option<&[usize]>,
        state: Option<RecurrentState>,
    ) -> Result<(Tensor<3>, RecurrentState)> {
        let [batch, steps, features] = input.dims();
        if features != self.input_size || batch == 0 || steps == 0 {
            return Err(SeqError::Input(format!(
                "expected a non-empty input [batch, time, {}], got {:?}",
                self.input_size,
                input.dims()
            )));
        }
        let device = input.device();
        let (h0, c0) = self.initial_states(state, batch, &device)?;
        if crate::host::applies(&input) {
            crate::padding::validate(lengths, batch, steps)?;
            return crate::host::forward(self, input, lengths, h0, c0);
        }
        let padding = Padding::new(lengths, [batch, steps, features], self.hidden_size, &device)?;
        let max_len = padding.max_len;
        if max_len == 0 {
            // Every sequence is empty: nothing runs.
            let output = Tensor::zeros([batch, steps, self.output_size()], &device);
            return Ok((output, self.stack_states(h0, c0)));
        }

        let mut x = if max_len < steps { input.narrow(1, 0, max_len) } else { input };
        if let Some(mask) = padding.input_mask.clone() {
            x = x.mask_fill(mask, 0.0);
        }
        let mut layer_input = LayerInput::Whole(Box::new(x.swap_dims(0, 1).reshape([max_len * batch, features])));
        let dirs = self.num_directions();
        let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
        let mut outputs = Vec::new();
        let mut whole_output: Option<Tensor<2>> = None;
        let mut h0 = h0.into_iter();
        let mut c0 = c0.into_iter();

        for (l, layer) in self.layers.iter().enumerate() {
            // Training splits the input into steps and projects each (splitting the projected
            // `[T*B, G*H]` tensor would cost far more in the backward pass); inference projects
            // all steps with one matmul and slices free views out of it.
            let tracked = layer.forward.is_tracked()
                || layer.reverse.as_ref().is_some_and(RecurrentCell::is_tracked)
                || match &layer_input {
                    LayerInput::Whole(x) => x.is_tracked(),
                    LayerInput::Steps(s) => s.iter().any(Tensor::is_tracked),
                };
            if tracked
                && let Some(x) = layer_input.first()
                && crate::lstm_op::applies(self.kind, x)
            {
                // Training an LSTM on burn-flex: one fused, differentiable op per direction.
                let x = match layer_input {
                    LayerInput::Whole(x) => *x,
                    LayerInput::Steps(s) => Tensor::cat(s, 0),
                };
                let lens = lengths.map_or_else(|| vec![max_len; batch], <[usize]>::to_vec);
                let cells = std::iter::once(&layer.forward).chain(layer.reverse.as_ref());
                let mut ys = Vec::with_capacity(dirs);
                for (d, cell) in cells.enumerate() {
                    let (h, c) = (h0.next().flatten(), c0.next().flatten());
                    let (y, h, c) =
                        crate::lstm_op::run(cell, self.recurrent_weight(cell), x.clone(), h, c, &lens, d == 1);
                    ys.push(y);
                    h_n.push(h);
                    c_n.push(c);
                }
                let y = if ys.len() == 1 { ys.swap_remove(0) } else { Tensor::cat(ys, 1) };
                if l + 1 < self.layers.len() {
                    layer_input = LayerInput::Whole(Box::new(self.dropout.forward(y)));
                } else {
                    whole_output = Some(y);
                    layer_input = LayerInput::Steps(Vec::new());
                }
                continue;
            }
            let inputs = match (tracked, layer_input) {
                (true, LayerInput::Whole(x)) => LayerInput::Steps(split_steps(*x, batch)),
                (false, LayerInput::Steps(s)) => LayerInput::Whole(Box::new(Tensor::cat(s, 0))),
                (_, other) => other,
            };
            let cells = std::iter::once(&layer.forward).chain(layer.reverse.as_ref());
            let mut dir_outputs = Vec::with_capacity(dirs);
            for (d, cell) in cells.enumerate() {
                let prepared = cell.prepare(self.recurrent_weight(cell));
                let xp = match &inputs {
                    LayerInput::Whole(x) => slice_steps(prepared.project_all((**x).clone()), batch),
                    LayerInput::Steps(s) => s.iter().map(|x| prepared.project_step(x.clone())).collect(),
                };
                let (h, c) = (h0.next().flatten(), c0.next().flatten());
                let (out, h, c) =
                    run_direction(&prepared, xp, h, c, &padding, d == 1, batch, self.hidden_size, &device);
                dir_outputs.push(out);
                h_n.push(h);
                c_n.extend(c);
            }
            let mut steps_out: Vec<Tensor<2>> = if dirs == 1 {
                dir_outputs.pop().unwrap_or_default()
            } else {
                let rev = dir_outputs.pop().unwrap_or_default();
                let fwd = dir_outputs.pop().unwrap_or_default();
                fwd.into_iter().zip(rev).map(|(f, r)| Tensor::cat(vec![f, r], 1)).collect()
            };
            if l + 1 < self.layers.len() {
                steps_out = steps_out.into_iter().map(|s| self.dropout.forward(s)).collect();
                layer_input = LayerInput::Steps(steps_out);
            } else {
                outputs = steps_out;
                layer_input = LayerInput::Steps(Vec::new());
            }
        }

        let mut output: Tensor<3> = match whole_output {
            Some(y) => y.reshape([max_len, batch, self.output_size()]).swap_dims(0, 1),
            None => Tensor::stack(outputs, 1),
        };
        if max_len < steps {
            let pad = Tensor::zeros([batch, steps - max_len, self.output_size()], &device);
            output = Tensor::cat(vec![output, pad], 1);
        }
        let h = Tensor::stack(h_n, 0);
        let c = (!c_n.is_empty()).then(|| Tensor::stack(c_n, 0));
        Ok((output, RecurrentState { h, c }))
    }

    /// The last layer's final hidden state `[B, D*H]` (forward and reverse concatenated):
    /// the usual input of a many-to-one head.
    pub fn last_hidden(&self, state: &RecurrentState) -> Tensor<2> {
        let dirs = self.num_directions();
        let [n, batch, h] = state.h.dims();
        let last = state.h.clone().narrow(0, n - dirs, dirs); // [D, B, H]
        last.swap_dims(0, 1).reshape([batch, dirs * h])
    }

    /// Splits a user-given initial state into per-(layer, direction) `[B, H]` tensors.
    #[allow(clippy::type_complexity)]
    fn initial_states(
        &self,
        state: Option<RecurrentState>,
        batch: usize,
        device: &Device,
    ) -> Result<(Vec<Option<Tensor<2>>>, Vec<Option<Tensor<2>>>)> {
        let n = self.layers.len() * self.num_directions();
        let lstm = self.kind.has_cell_state();
        let zeros = || Some(Tensor::<2>::zeros([batch, self.hidden_size], device));
        let Some(state) = state else {
            let c = if lstm { (0..n).map(|_| zeros()).collect() } else { vec![None; n] };
            return Ok(((0..n).map(|_| zeros()).collect(), c));
        };
        let expected = [n, batch, self.hidden_size];
        let split = |t: Tensor<3>, name: &str| -> Result<Vec<Option<Tensor<2>>>> {
            if t.dims() != expected {
                return Err(SeqError::Input(format!(
                    "initial state `{name}` has shape {:?}, expected {expected:?} ([layers*directions, batch, hidden])",
                    t.dims()
                )));
            }
            Ok((0..n).map(|i| Some(t.clone().narrow(0, i, 1).reshape([batch, self.hidden_size]))).collect())
        };
        let h = split(state.h, "h")?;
        let c = match (lstm, state.c) {
            (true, Some(c)) => split(c, "c")?,
            (true, None) => (0..n).map(|_| zeros()).collect(),
            (false, None) => vec![None; n],
            (false, Some(_)) => {
                return Err(SeqError::Input(format!("a {} has no cell state `c`", self.kind)));
            }
        };
        Ok((h, c))
    }

    fn stack_states(&self, h: Vec<Option<Tensor<2>>>, c: Vec<Option<Tensor<2>>>) -> RecurrentState {
        let h: Vec<Tensor<2>> = h.into_iter().flatten().collect();
        let c: Vec<Tensor<2>> = c.into_iter().flatten().collect();
        RecurrentState { h: Tensor::stack(h, 0), c: (!c.is_empty()).then(|| Tensor::stack(c, 0)) }
    }
}

/// Runs one direction over the projected steps `xp` (time order), returning the outputs in time
/// order and the final `h` (and `c`).
#[allow(clippy::too_many_arguments)]
fn run_direction(
    cell: &PreparedCell,
    xp: Vec<Tensor<2>>,
    h0: Option<Tensor<2>>,
    c0: Option<Tensor<2>>,
    padding: &Padding,
    reverse: bool,
    batch: usize,
    hidden: usize,
    device: &Device,
) -> (Vec<Tensor<2>>, Tensor<2>, Option<Tensor<2>>) {
    let steps = xp.len();
    let mut h = h0.unwrap_or_else(|| Tensor::zeros([batch, hidden], device));
    let mut c = c0;
    let mut xp: Vec<Option<Tensor<2>>> = xp.into_iter().map(Some).collect();
    let mut out: Vec<Option<Tensor<2>>> = vec![None; steps];
    let order: Box<dyn Iterator<Item = usize>> = if reverse { Box::new((0..steps).rev()) } else { Box::new(0..steps) };
    for t in order {
        let Some(x) = xp[t].take() else { continue };
        let (h_new, c_new) = cell.step(x, h.clone(), c.clone());
        match &padding.invalid[t] {
            None => {
                out[t] = Some(h_new.clone());
                h = h_new;
                c = c_new;
            }
            Some(invalid) => {
                out[t] = Some(h_new.clone().mask_fill(invalid.clone(), 0.0));
                h = h_new.mask_where(invalid.clone(), h);
                c = match (c_new, c) {
                    (Some(cn), Some(c)) => Some(cn.mask_where(invalid.clone(), c)),
                    (cn, _) => cn,
                };
            }
        }
    }
    (out.into_iter().flatten().collect(), h, c)
}
