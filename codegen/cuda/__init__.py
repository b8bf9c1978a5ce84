"""tracecomp.codegen.cuda: GPU kernels through numba-cuda (the CUDA backend).

  backend.py  compile_graph: fusion for the CUDA Target, a kernel per elementwise,
              window (unfold, fold), reduce, scan and matmul group, host steps for the
              rest, values on the device (and left there for tensors on 'cuda')
  compat.py   numba-cuda imported with the numpy that is installed (numpy >= 2.5 too);
              IEEE math for kernels on the simulator
  device.py   the device tensors on 'cuda' live on: torch.cuda's answers, copies to and
              from the host, eager ops as cached one-node kernels
  kernel_cache.py  each kernel's source in a file of the disk cache, named by its hash, so
              numba-cuda's own cache (cache=True) keeps the compiled code for the next process
  ptx.py      the kernels' PTX for `tracecomp dump` (the GPU's compute capability, else sm_90),
              compiled when asked for, in a child process under the simulator
  source.py   fused elementwise and reduce groups as numba-cuda kernels' Python source
              (reductions: a block per output element, combined in shared memory;
              argmax/argmin: a loop in the thread; gather and a gather's scatter_add
              where the indices are provably in range, as the llvm backend's; unfold
              through the shared index map, fold as a gather-sum; matmuls, batched too,
              in shared-memory tiles, transposes read in place)

What exists today is checked without a GPU: every kernel source compiles to PTX for
sm_90 (numba.cuda.compile_ptx, NVVM from pip's CUDA wheels) and runs under numba's CUDA
simulator against tracecomp's eager results, and compile(backend="cuda") trains MLP and
ConvNet steps there (tests/cuda), eagerly and compiled, with tensors on 'cuda'. Not yet:
cuBLAS for the products. The kernel cache's reuse of compiled code across processes is
checked only on a GPU (its test skips without one).
"""
