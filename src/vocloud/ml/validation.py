"""Input checks shared by the estimators (like scikit-learn's ``utils.validation``).

:func:`check_array` turns what a user or a step hands an estimator (numpy, dask, an xarray
DataArray, or the feature store's Dataset) into one 2-D (spectra x features) numpy or dask
array, with a clear error for anything else.
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

__all__ = ["check_array", "is_dask"]


def is_dask(X: Any) -> bool:
    """Whether ``X`` is a dask array (lazy: the estimators then build tasks, not loops)."""
    return isinstance(X, da.Array)


def check_array(X: Any) -> np.ndarray | da.Array:
    """The 2-D (spectra x features) numpy or dask array behind ``X``.

    Parameters
    ----------
    X : array-like, dask array, xarray.DataArray or xarray.Dataset
        A Dataset gives its ``features`` variable; a DataArray its data, rows first (one with
        ``wavelength`` as its first dimension is transposed); a dask array comes back lazy, in
        one chunk along the features (the estimators work on whole rows).

    Returns
    -------
    numpy.ndarray or dask.array.Array

    Raises
    ------
    ValueError
        ``X`` is not 2-D, does not hold real numbers, or is a Dataset without ``features``.

    Examples
    --------
    >>> import dask.array as da
    >>> check_array([[1.0, 2.0], [3.0, 4.0]]).shape
    (2, 2)
    >>> check_array(da.ones((10, 6), chunks=(5, 3))).chunks
    ((5, 5), (6,))
    >>> check_array(np.ones(3))
    Traceback (most recent call last):
    ...
    ValueError: X must be 2-D (spectra x features), got shape (3,)
    >>> check_array(np.array([["a", "b"]]))
    Traceback (most recent call last):
    ...
    ValueError: X must hold real numbers, got dtype <U1
    """
    if isinstance(X, xr.Dataset):
        if "features" not in X.data_vars:
            raise ValueError(
                f"X is a Dataset without a 'features' variable (it has {sorted(map(str, X.data_vars))})"
            )
        X = X["features"]
    if isinstance(X, xr.DataArray):
        if X.ndim == 2 and X.dims[0] == "wavelength":
            X = X.transpose()
        X = X.data
    if not is_dask(X):
        X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (spectra x features), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
    if is_dask(X) and X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X
