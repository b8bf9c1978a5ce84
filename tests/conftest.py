"""Test-wide setup: every eager op checks its shape rule against its impl, and the graph
verifier runs after every compiler pass."""
import os

os.environ.setdefault("TRACECOMP_CHECK_SHAPES", "1")
os.environ.setdefault("TRACECOMP_VERIFY", "1")
