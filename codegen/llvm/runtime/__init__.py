"""Running the compiled code: the JIT, the disk cache, the runners and their threads.

  engine.py        parse, verify, optimize and JIT-compile a module for the host
  cache.py         compiled object code on disk, keyed by the module and the host
  cache_folder.py  the cache folder's trust checks (owner, permissions, links)
  runner.py        the runners: entry-function calls and Python steps in schedule order
  parallel.py      kernels split over dim 0 across persistent worker threads
"""
