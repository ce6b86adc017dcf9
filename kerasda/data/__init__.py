"""Data: domains as uint8 arrays in memory, and tf.data pipelines over them."""

from kerasda.data import kvasir, pipeline
from kerasda.data.domain import Domain, TargetLabelAccessError
from kerasda.data.paths import MissingDataError, resolve_cache_dir, resolve_data_dir
from kerasda.data.registry import DOMAIN_NAMES, load_domain, shared_index_split
