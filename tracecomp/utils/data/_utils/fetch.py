"""torch.utils.data._utils.fetch's names (the code is in ../fetch.py)."""
from ..fetch import _BaseDatasetFetcher, _IterableDatasetFetcher, _MapDatasetFetcher  # noqa: F401
