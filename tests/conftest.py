"""Test-wide setup: every eager op checks its shape rule against its impl."""
import os

os.environ.setdefault("TRACECOMP_CHECK_SHAPES", "1")
