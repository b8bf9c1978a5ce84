"""nn.AdaptiveLogSoftmaxWithLoss (Grave et al., "Efficient softmax approximation for GPUs"):
the frequent classes (the shortlist) and one entry per cluster of rarer classes share a head
softmax; each cluster has its own small projection and softmax, so that a class's log
probability is its cluster's head entry plus its place inside the cluster.

Parameters, names and state_dict keys are torch's (head.weight, tail.0.0.weight,
tail.0.1.weight, ...). forward(input, target) returns torch's namedtuple (output, loss):
each row's log probability of its target and the mean negative log likelihood.

Eagerly, as in torch, a cluster's projection runs only on the rows whose targets fall in
it (the point of the method on large vocabularies). Under tracing the rows are not known,
so every cluster runs on every row and `where` keeps the rows in it: the same values, and
gradients that are zero from the rows outside, as torch's are; the range check on targets
becomes a guard of the graph.
"""
from collections import namedtuple

import numpy as np

from ... import composite as C
from ... import context
from ...composite_index import index_add, index_select
from ...composite_shape import eager_values
from ...creation import tensor
from ...ops import elementwise as ew
from ...ops.indexing import check_range
from ...ops.reduce import argmax
from ..functional import log_softmax
from ..module import Module
from .container import ModuleList, Sequential
from .linear import Linear

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False,
                 device=None, dtype=None):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted "
                             "in an increasing order, where each value is between 1 and "
                             "n_classes-1")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        kw = {"device": device, "dtype": dtype}
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hidden = int(in_features // (div_value ** (i + 1)))
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(in_features, hidden, bias=False, **kw),
                                        Linear(hidden, size, bias=False, **kw)))

    def reset_parameters(self):
        self.head.reset_parameters()
        for to_hidden, to_classes in self.tail:
            to_hidden.reset_parameters()
            to_classes.reset_parameters()

    def _check(self, input, target):
        if target.dim() == 1:
            if input.size(0) != target.size(0):
                raise RuntimeError("Input and target should have the same size in the batch "
                                   "dimension.")
            if input.dim() != 2:
                raise RuntimeError(f"1D target tensor expects 2D input tensors, but found "
                                   f"inputs with size {input.size()}")
        elif target.dim() == 0:
            if input.dim() != 1:
                raise RuntimeError(f"0D target tensor expects 1D input tensors, but found "
                                   f"inputs with size {input.size()}")
        else:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")

    def _in_range(self, target):
        """target, checked to lie in [0, n_classes): torch's message eagerly, a guard when
        traced."""
        if context.current() is not None:
            return check_range(target, 0, self.n_classes, "Target values should be in [0, "
                               "{last}], but {value} was found.", error="RuntimeError")
        values = eager_values(target, "AdaptiveLogSoftmaxWithLoss")
        if values.size and (values.min() < 0 or values.max() >= self.n_classes):
            raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but "
                               f"values in range [{values.min()}, {values.max()}] were found. ")
        return target

    def forward(self, input_, target_):
        self._check(input_, target_)
        batched = target_.dim() > 0
        input = input_ if batched else C.unsqueeze(input_, 0)
        target = self._in_range(target_ if batched else C.unsqueeze(target_, 0))
        traced = context.current() is not None
        # each row's entry of the head: its class in the shortlist, else its cluster's
        cluster = sum(ew.cast(target >= cut, target.dtype) for cut in self.cutoffs[:-1])
        head_index = ew.where(cluster == 0, target, cluster + (self.shortlist_size - 1))
        head_logprob = log_softmax(self.head(input), 1)
        output = C.squeeze(head_logprob.gather(1, C.unsqueeze(head_index, 1)), 1)
        for i in range(self.n_clusters):
            low, high = self.cutoffs[i], self.cutoffs[i + 1]
            if traced:
                inside = cluster == i + 1
                place = C.clamp(target - low, 0, high - low - 1)
                logprob = log_softmax(self.tail[i](input), 1)
                local = C.squeeze(logprob.gather(1, C.unsqueeze(place, 1)), 1)
                output = output + ew.where(inside, local, 0.0)
                continue
            rows = np.nonzero(eager_values(cluster, "AdaptiveLogSoftmaxWithLoss") == i + 1)[0]
            if rows.size == 0:
                continue
            rows = tensor(rows, device=input.device)
            place = index_select(target, 0, rows) - low
            logprob = log_softmax(self.tail[i](index_select(input, 0, rows)), 1)
            local = C.squeeze(logprob.gather(1, C.unsqueeze(place, 1)), 1)
            output = index_add(output, 0, rows, local)
        loss = C.mean(-output)
        return _ASMoutput(output if batched else C.squeeze(output, 0), loss)

    def _full_log_prob(self, input, head_output):
        """(N, n_classes): the shortlist's head log probabilities, then each cluster's,
        each plus its cluster's head entry."""
        head_logprob = log_softmax(head_output, 1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            entry = head_logprob[:, self.shortlist_size + i:self.shortlist_size + i + 1]
            parts.append(log_softmax(self.tail[i](input), 1) + entry)
        return C.cat(parts, 1)

    def log_prob(self, input):
        return self._full_log_prob(input, self.head(input))

    def predict(self, input):
        head_output = self.head(input)
        output = argmax(head_output, 1)
        outside = output >= self.shortlist_size
        if context.current() is not None:
            return ew.where(outside, argmax(self._full_log_prob(input, head_output), 1),
                            output)
        rows = np.nonzero(eager_values(outside, "AdaptiveLogSoftmaxWithLoss.predict"))[0]
        if rows.size == 0:
            return output
        if rows.size == outside.numel():
            return argmax(self._full_log_prob(input, head_output), 1)
        rows = tensor(rows, device=input.device)
        best = argmax(self._full_log_prob(index_select(input, 0, rows),
                                          index_select(head_output, 0, rows)), 1)
        output[rows] = best
        return output
