"""Machine learning on the feature store: scikit-learn style estimators on dask arrays."""

from vocloud.ml.pca import PCA

__all__ = ["PCA"]
