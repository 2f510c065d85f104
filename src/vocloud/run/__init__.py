"""The run stage: experiment files (:mod:`~vocloud.run.config`) and the Dask cluster a run uses
(:mod:`~vocloud.run.cluster`: a LocalCluster, a scheduler address, or batch jobs through
:mod:`~vocloud.run.batch`; :mod:`~vocloud.run.workers`: what every worker gets)."""
