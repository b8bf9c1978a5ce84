"""The `custom_vjp` primitive: how a custom autograd.Function's outputs enter the tape or a
graph, so that the user's backward, not the derivative of the forward's ops, is their VJP.

Function.apply (function.py) runs the user's forward with grad off, then passes each
differentiable output y_k through one marker node:

    %5: f32[4] = custom_vjp(%y0, %x, %w, %saved, call=<RoundBackward>, index=0)

Its value is y_k (the impl is the identity on its first operand). Its other operands are
what the backward needs: the call's tensor arguments (where gradients go), the tensors ctx
saved or holds, and the plain values of saved outputs. They are operands, not hidden
state, so the graph autodiff pass hands the VJP the joint graph's counterparts of them,
DCE keeps them alive, and the eager tape keeps them with the node (and checks the saved
ones' versions). `params["call"]`, a `FunctionCall`, holds the Function and its ctx.

The markers of one call form a group (tag "grouped"): the drivers (autograd/engine.py and
passes/autodiff.py) call the VJP once per call, with the gradients and outputs of all
members as lists by output index, as torch calls Function.backward once. A group's shared
param `call` answers n_outputs, tape_members() and name() (the compiled-call bridge's
nodes are a group the same way). Once autodiff has run, a marker is only the identity (tag
"grad_marker"): the joint graph's replay drops it, and the algebra pass removes one whose
gradient flag was cleared (a graph differentiated in place).
"""
import weakref

import numpy as np

from .. import grad_mode, saved_hooks
from ..dispatch import TapeNode, bind
from ..errors import AutogradError, fmt_shape
from ..ir import Node
from ..ops.registry import OPERANDS, defprim
from ..tensor import Tensor

# FunctionCall.arg_kinds' entry for a sparse argument that needs no gradient (function.py)
NO_GRAD = "no_grad"


def _vjp(grads, outs, *operands, call, index):
    return call.vjp(grads, outs, operands)


custom_vjp_p = defprim("custom_vjp", lambda y, *rest, call, index: y,
                       lambda y, *rest, call, index: tuple(y),
                       lambda y, *rest, call, index: np.dtype(y.dtype),
                       _vjp, tags=("grouped", "grad_marker"), saves=(OPERANDS,))


def mark(y, operands, call, index):
    """y_k as the output of the call's marker node (eagerly: a tape node; traced: a node)."""
    return bind(custom_vjp_p, y, *operands, call=call, index=index)


class FunctionCall:
    """One Function.apply that needs a backward: what the marker nodes' params share.

    Operand layout of every marker of the call: (y_k, *tensor arguments, *extras), where
    extras are saved tensors that are neither arguments nor outputs, tensors held as ctx
    attributes, and the plain values of saved outputs. `saved` says where each saved
    tensor comes from: None, ("operand", j) or ("output", k, j): output k (its tape
    output, so a double backward flows through this call again), else operand j."""

    def __init__(self, cls, backward, ctx, arg_kinds, out_specs, saved, attrs, n_args,
                 versions):
        self.cls, self.backward, self.ctx = cls, backward, ctx
        # per forward argument: operand index, None (not a tensor) or NO_GRAD (a sparse
        # tensor that needs no gradient: not an operand, what backward returns for it dropped)
        self.arg_kinds = arg_kinds
        self.out_specs = out_specs      # per output: (shape, np dtype), None if not a tensor
        self.n_outputs = len(out_specs)
        self.saved, self.attrs = saved, attrs     # attrs: [(ctx attribute name, operand j)]
        self.n_args = n_args
        self.out_versions = versions    # output k -> its version when saved (eager checks)
        self.members = [None] * self.n_outputs   # eager: weakrefs to the tape nodes
        # (unpack_hook, what pack_hook returned per saved tensor) when the call was made
        # under saved_tensors_hooks (saved_hooks.py)
        self.packed = None

    def __repr__(self):
        return f"<{self.cls.__name__}Backward>"

    def name(self):
        return f"{self.cls.__name__}Backward"

    def tape_members(self):
        return [None if ref is None else ref() for ref in self.members]

    def release(self):
        """Backward ran without retain_graph: the tensors save_for_backward kept go."""
        self.ctx.to_save = ()
        self.packed = None

    def attach(self, index, tape_node):
        self.members[index] = weakref.ref(tape_node)

    # --- the backward --------------------------------------------------------------------
    def vjp(self, grads, outs, operands):
        """Run the user's backward on `operands` (tensors standing for the marker's
        operands: eager tensors, or graph values while autodiff records); returns one
        gradient per operand."""
        ctx = self.ctx
        grads = [self._materialize(k, g) for k, g in enumerate(grads)]
        saved = tuple(self._saved(entry, operands, outs) for entry in self.saved)
        if self.packed is not None:
            saved = saved_hooks.unpack_tensors(self.packed, saved)
        held = {name: getattr(ctx, name, None) for name, _ in self.attrs}
        ctx._saved = saved
        for name, j in self.attrs:
            setattr(ctx, name, operands[j])
        versions = self._held_versions(operands, grads)
        try:
            result = self.backward(ctx, *grads)
        finally:
            ctx._saved = None
            for name, value in held.items():
                setattr(ctx, name, value)
        self._refuse_held_updates(versions, operands)
        return self._operand_grads(result, operands)

    def _held_versions(self, operands, grads):
        """{ctx attribute: its tensor's version} where the backward records graph values
        (compiled code's autodiff: its gradients are); {} eagerly."""
        if not any(isinstance(g, Tensor) and isinstance(g._data, Node) for g in grads):
            return {}
        return {name: operands[j]._vc[0] for name, j in self.attrs
                if isinstance(operands[j], Tensor) and type(operands[j]._vc) is list}

    def _refuse_held_updates(self, versions, operands):
        """A backward that updates a tensor held on ctx in place (labml's feedback
        transformer accumulates every step's gradient into one shared buffer and returns a
        row of it) relies on its calls seeing each other's updates. Compiled, each call's
        backward gets the value the tensor had at its forward, so the sums would be lost:
        the graph breaks here and the calls run eagerly, in torch's order."""
        from ..errors import TraceError
        for name, j in self.attrs:
            if name in versions and operands[j]._vc[0] != versions[name]:
                raise TraceError(
                    f"{self.cls.__name__}.backward updates ctx.{name} in place (a "
                    f"{fmt_shape(operands[j].shape)} tensor): compiled code differentiates "
                    f"each call with the tensor's value at its forward, so one call's update "
                    f"would not reach another's backward. Return gradients without updating "
                    f"tensors held on ctx, or run this Function eagerly")

    def _materialize(self, k, g):
        spec = self.out_specs[k]
        if g is not None or spec is None or not self.ctx.materialize_grads:
            return g
        return Tensor._make(np.zeros(spec[0], spec[1]))

    def _saved(self, entry, operands, outs):
        if entry is None:
            return None
        if entry[0] == "operand":
            return operands[entry[1]]
        if entry[0] == "sparse":
            _, cls, where, static = entry
            return cls._from_parts([operands[j] for j in where], static)
        _, k, j = entry
        out = outs[k]
        if out is None:
            return self._lost_output(k, operands[j], operands)
        want = self.out_versions.get(k)
        if isinstance(out._data, np.ndarray) and want is not None and out._vc[0] != want:
            raise AutogradError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{out.dtype.name} {fmt_shape(out.shape)}], which is output "
                f"{k} of {self.name()}, is at version {out._vc[0]}; expected version {want} "
                f"instead. Hint: replace the in-place op on that output with an out-of-place "
                f"one.")
        return out

    def _lost_output(self, k, plain, operands):
        """Saved output k, whose tensor (and marker node) is gone (`Sinh.apply(x)[0]`
        dropped the other outputs): its value, and under create_graph its history again,
        through a new marker of this call, as torch unpacks a saved output with the call
        as its grad_fn (so a double backward flows through the call from it)."""
        if not (grad_mode.state.enabled and isinstance(plain._data, np.ndarray)
                and any(isinstance(t, Tensor) and t._requires_grad for t in operands[1:])):
            return plain
        out = mark(plain, operands[1:], self, k)
        if isinstance(out._node, TapeNode):
            # walked with the call's other markers, not after the nodes made since: a
            # group is stepped once, when its gradients are complete (engine._step_group)
            out._node.seq = min(m.seq for m in self.tape_members() if m is not None) - 0.5
            self.attach(k, out._node)
        return out

    def _operand_grads(self, result, operands):
        """Check what backward returned, as torch does, and line it up with the operands."""
        name = self.name()
        if not isinstance(result, tuple):
            result = (result,)
        for g in result:
            if g is not None and not isinstance(g, Tensor):
                raise AutogradError(f"expected Variable or None (got {type(g).__name__})")
        n = self.n_args
        if len(result) < n or any(g is not None for g in result[n:]):
            raise AutogradError(f"function {name} returned an incorrect number of gradients "
                                f"(expected {n}, got {len(result)})")
        grads = [None] * len(operands)
        for k, (j, g) in enumerate(zip(self.arg_kinds, result)):
            if g is None or j is NO_GRAD:
                continue
            if j is None:
                raise AutogradError(f"function {name} returned a gradient different than None "
                                    f"at position {k + 1}, but the corresponding forward input "
                                    f"was not a Variable")
            like = operands[j]
            if not _expandable(like.shape, g.shape):
                raise AutogradError(f"Function {name} returned an invalid gradient at index "
                                    f"{k} - got {fmt_shape(g.shape)} but expected shape "
                                    f"compatible with {fmt_shape(like.shape)}")
            grads[j] = g
        return grads


def _expandable(shape, to):
    """Can `shape` broadcast to `to` (torch's is_expandable_to)?"""
    if len(shape) > len(to):
        return False
    return all(s == t or s == 1 for s, t in zip(reversed(shape), reversed(to)))
