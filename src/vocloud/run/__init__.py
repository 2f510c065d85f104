"""The run stage: the experiment (:mod:`~vocloud.run.experiment`: spectra list + parameters -> cache
key -> lazy graph -> run), the work of one task (:mod:`~vocloud.run.tasks`: read + preprocess a block
+ write it), experiment files (:mod:`~vocloud.run.config`) and the Dask cluster a run uses
(:mod:`~vocloud.run.cluster`: a LocalCluster, a scheduler address, or batch jobs through
:mod:`~vocloud.run.batch`; :mod:`~vocloud.run.workers`: what every worker gets)."""
