"""The experiment folder and what it holds: feature stores, their run locks, the pointer file.

* :mod:`vocloud.store.features`: the Zarr feature store and its chunk schema: create, write
  chunk by chunk, check, finish, open as xarray.
* :mod:`vocloud.store.folder`: the experiment folder: the paths of its stores, ``.partial``
  stores, locks and steps, the pointer file ``experiment.json``, :func:`resolve_store`.
* :mod:`vocloud.store.clock`: :func:`utc_now`, the UTC ISO time stamp of every record the
  folder holds (lock holders, pointer file, step and iteration records, labels).
* :mod:`vocloud.store.lock`: the run lock that lets one run at a time write a store, on local
  disks and on shared file systems (NFS, Lustre, GPFS).
"""

from vocloud.store.clock import utc_now
from vocloud.store.features import (
    CHUNK_VARIABLES,
    FEATURE_CODEC,
    FILL_VALUES,
    PARTIAL_SUFFIX,
    STATUS_FAILED,
    STATUS_MEANINGS,
    STATUS_OK,
    STATUS_PENDING,
    STORE_ARRAYS,
    WEIGHT,
    WEIGHT_ATTRS,
    ChunkData,
    FeatureStore,
    check_store,
    failure_category,
    memory_dtype,
    new_chunk,
    open_store,
    read_array,
    replace_folder,
)
from vocloud.store.folder import (
    ITERATIONS_FOLDER,
    LABELS_FILE,
    POINTER_FILE,
    STEPS_FOLDER,
    ExperimentFolder,
    is_complete,
    resolve_store,
)
from vocloud.store.lock import LockRecord, StoreLock, StoreLocked

__all__ = [
    "CHUNK_VARIABLES",
    "FEATURE_CODEC",
    "FILL_VALUES",
    "ITERATIONS_FOLDER",
    "LABELS_FILE",
    "PARTIAL_SUFFIX",
    "POINTER_FILE",
    "STATUS_FAILED",
    "STATUS_MEANINGS",
    "STATUS_OK",
    "STATUS_PENDING",
    "STEPS_FOLDER",
    "STORE_ARRAYS",
    "WEIGHT",
    "WEIGHT_ATTRS",
    "ChunkData",
    "ExperimentFolder",
    "FeatureStore",
    "LockRecord",
    "StoreLock",
    "StoreLocked",
    "check_store",
    "failure_category",
    "is_complete",
    "memory_dtype",
    "new_chunk",
    "open_store",
    "read_array",
    "replace_folder",
    "resolve_store",
    "utc_now",
]
