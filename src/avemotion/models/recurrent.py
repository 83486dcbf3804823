"""Packed-sequence recurrences for training on CPU at linear cost: the same arithmetic as ``nn.RNN`` /
``nn.LSTM`` on a :class:`~torch.nn.utils.rnn.PackedSequence`, without their quadratic backward.

On CPU, torch runs a packed RNN as a composite of small operations (aten/src/ATen/native/RNN.cpp,
``PackedLayer``): the input projection of every step at once, then per step a ``narrow`` of it. The backward
of each ``narrow`` fills a zero tensor as large as the whole projected sequence and adds it up, so one
backward costs steps x frames x gates: about two thirds of an audio-video training step went there (issue 26).
:func:`packed_rnn` repeats ``PackedLayer`` operation for operation (same input projection, the same cell
operations in the same order, hence bit-identical outputs and gradients) but takes the steps' inputs with one
``split``, whose backward concatenates the steps' gradients instead. :func:`pad_packed` is
``pad_packed_sequence`` likewise: one indexed copy instead of a ``narrow`` per distinct length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence


def packed_rnn(module: nn.RNN | nn.LSTM, packed: PackedSequence) -> PackedSequence:
    """The outputs of ``module(packed)[0]`` (one layer, one direction, zero initial state, CPU), with a linear
    backward. Other set-ups, and sequences of one length (torch runs an LSTM over them with oneDNN, whose
    numbers differ), are handed to ``module`` itself."""
    simple = isinstance(module, nn.RNN) and module.nonlinearity == "tanh"
    sizes = packed.batch_sizes.tolist()
    if (not (simple or type(module) is nn.LSTM) or module.num_layers != 1 or module.bidirectional
            or not module.bias or getattr(module, "proj_size", 0) or packed.data.device.type != "cpu"
            or sizes[0] == sizes[-1]):
        return module(packed)[0]
    w_ih, w_hh, b_ih, b_hh = module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0
    hidden = packed.data.new_zeros(sizes[0], module.hidden_size)
    cell = packed.data.new_zeros(sizes[0], module.hidden_size) if not simple else None
    outputs = []
    # the per-step inputs of RNN.cpp's PackedLayer (its input projection of the whole sequence, then each
    # step's rows) taken with one split instead of a narrow per step
    for x_t, bs in zip(torch.split(F.linear(packed.data, w_ih, b_ih), sizes), sizes, strict=True):
        if bs < hidden.shape[0]:  # sequences that ended: the state of the first bs goes on
            hidden = hidden.narrow(0, 0, bs)
            if cell is not None:
                cell = cell.narrow(0, 0, bs)
        if cell is None:  # SimpleCell: tanh(linear_hh(h).add_(x))
            hidden = torch.tanh(F.linear(hidden, w_hh, b_hh).add_(x_t))
        else:  # LSTMCell (CPU)
            # RNN.cpp's in-place gate activations on views of ``gates`` cost a CopySlices per gate in the
            # backward: the same activations out of place give the same numbers
            gates = F.linear(hidden, w_hh, b_hh).add_(x_t).unsafe_chunk(4, 1)
            ingate, forgetgate = gates[0].sigmoid(), gates[1].sigmoid()
            cellgate, outgate = gates[2].tanh(), gates[3].sigmoid()
            cell = (forgetgate * cell).add_(ingate * cellgate)
            hidden = outgate * cell.tanh()
        outputs.append(hidden)
    return PackedSequence(torch.cat(outputs, 0), packed.batch_sizes, packed.sorted_indices,
                          packed.unsorted_indices)


def pad_packed(packed: PackedSequence, total_length: int) -> torch.Tensor:
    """``pad_packed_sequence(packed, batch_first=True, total_length=total_length)[0]`` (zeros after each
    sequence's end, the same memory layout) with one indexed copy, whose backward is one indexed read."""
    sizes, data = packed.batch_sizes, packed.data
    steps = torch.repeat_interleave(torch.arange(len(sizes)), sizes)
    rank = torch.cat([torch.arange(n) for n in sizes.tolist()])  # position in the length-sorted batch
    out = data.new_zeros(total_length, int(sizes[0]), *data.shape[1:]).index_put((steps, rank), data)
    out = out.transpose(0, 1)
    return out if packed.unsorted_indices is None else out.index_select(0, packed.unsorted_indices)
