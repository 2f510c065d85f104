"""Machine learning on the feature store: scikit-learn style estimators on dask arrays."""

from vocloud.ml.forest import SpectraForest
from vocloud.ml.labels import align_labels, load_labels
from vocloud.ml.pca import PCA
from vocloud.ml.som import SOM

__all__ = ["PCA", "SOM", "SpectraForest", "align_labels", "load_labels"]
