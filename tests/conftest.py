"""Test-wide setup: every eager op checks its shape rule against its impl, and the graph
verifier runs after every compiler pass; compiled code is cached in a temporary directory
removed at exit, never in the user's ~/.cache."""
import os
import tempfile

os.environ.setdefault("TRACECOMP_CHECK_SHAPES", "1")
os.environ.setdefault("TRACECOMP_VERIFY", "1")
_cache = tempfile.TemporaryDirectory(prefix="tracecomp-test-cache-")  # removed at exit
os.environ.setdefault("TRACECOMP_CACHE_DIR", _cache.name)
