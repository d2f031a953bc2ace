"""How a study on a Dask cluster shares each host's cores among its tasks, and asks for GPUs."""

from __future__ import annotations

from tuner.engine.cluster import thread_shares


def test_thread_shares_divide_each_hosts_cores_among_its_worker_threads() -> None:
    workers = {"tcp://10.0.0.1:1": {"nthreads": 1}, "tcp://10.0.0.1:2": {"nthreads": 1},
               "tcp://10.0.0.2:1": {"nthreads": 4}, "tcp://10.0.0.3:1": {"nthreads": 8}}
    cores = {"10.0.0.1": 16, "10.0.0.2": 16, "10.0.0.3": 4}
    assert thread_shares(workers, cores) == {"10.0.0.1": 8, "10.0.0.2": 4, "10.0.0.3": 1}


def test_a_cuda_study_asks_each_task_for_a_gpu() -> None:
    import tuner
    from tuner.engine.cluster import task_resources

    assert task_resources(tuner.load_study_spec("lenet_optimizers")) is None
    cuda = tuner.load_study_spec("lenet_optimizers", overrides={"device": "cuda"})
    assert task_resources(cuda) == {"GPU": 1}
