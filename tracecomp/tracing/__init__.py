"""Tracing: running torch-style code on stand-in tensors to record a static graph.

  tracer.py    the Tracer (binds every op into a Graph node), trace(fn, *inputs), wrap
  gate.py      one trace at a time per module or function (TraceGate)
  backward.py  loss.backward() inside a trace: the tape's rules emit backward nodes
  grad.py      autograd.grad inside a trace
  value.py     TracedValue: a node standing in for a traced tensor's array, refusing values

Whether a thread is tracing is context.py's answer, so eager code never imports this.
"""
