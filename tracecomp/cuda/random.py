"""tracecomp.cuda.random: torch.cuda.random, the CUDA generator's seeding and states, the
same functions as tracecomp.cuda's (torchattacks' APGD and FAB call
torch.cuda.random.manual_seed on any machine: a no-op without a device, as torch)."""
from . import (  # noqa: F401  (re-exported under torch's module name)
    get_rng_state,
    get_rng_state_all,
    initial_seed,
    manual_seed,
    manual_seed_all,
    seed,
    seed_all,
    set_rng_state,
    set_rng_state_all,
)
