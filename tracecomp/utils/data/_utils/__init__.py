"""torch.utils.data._utils's import paths (`from torch.utils.data._utils.collate import
collate, default_collate_fn_map`, as torch's docs show for extending default_collate): the
code lives one level up; these modules re-export it."""
from . import collate, fetch, worker  # noqa: F401
from ..worker import MP_STATUS_CHECK_INTERVAL  # noqa: F401
