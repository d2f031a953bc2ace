"""Running a study: the context of one process, the stage loop, one trial, the final, and the
workers (processes on this machine, tasks on a Dask cluster)."""
