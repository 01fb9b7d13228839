"""Running a batch's jobs: in this process, in a local process pool, or on a Dask cluster.

What every job shares (the :class:`~press.batch.BatchOptions` with the
channel's known packages, the batch's names and the channel's source) is
sent to each worker once: a process pool receives it through its
initializer, a Dask cluster through ``Client.scatter(..., broadcast=True)``
(each task then carries a reference to it, not a copy). A job is then its
:class:`~press.batch.Job` alone, a few hundred bytes whatever the channel's
size.

Jobs are submitted in bounded waves: at most :data:`IN_FLIGHT_PER_WORKER`
per worker process (:data:`DASK_IN_FLIGHT_PER_THREAD` per Dask worker
thread) are queued at any time, and one more is submitted as each result
comes back, so neither the pool's queue nor Dask's scheduler holds the whole
batch (the scheduler keeps a few kilobytes per queued task, which for
60,000 tasks at once was the limit). Parallel jobs are started largest
archive first (longest-processing-time order), so the batch does not end on
one large job while the other workers idle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator, cast

if TYPE_CHECKING:
    from .batch import BatchOptions, Job, JobResult

#: Jobs queued per worker process beyond the one it runs (enough to keep it busy between results).
IN_FLIGHT_PER_WORKER = 2
#: Tasks in flight per Dask worker thread: a result's round trip through the scheduler takes a few
#: milliseconds, so a deeper queue keeps the threads busy; each queued task costs the scheduler a
#: few kilobytes (the options are scattered once, a task holds a reference to them).
DASK_IN_FLIGHT_PER_THREAD = 32

Function = Callable[["Job", "BatchOptions"], "JobResult"]
_SHARED: tuple[BatchOptions, Function] | None = None


def _init_worker(options: BatchOptions, function: Function) -> None:
    """Pool initializer: keep the batch's shared options for every job this worker runs."""
    global _SHARED
    _SHARED = (options, function)


def _run_shared(job: Job) -> JobResult:
    if _SHARED is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("worker started without the batch's options")
    options, function = _SHARED
    return function(job, options)


def execute(jobs: list[Job], options: BatchOptions, function: Function | None = None) -> Iterator[JobResult]:
    """Yield a :class:`~press.batch.JobResult` per job of ``jobs`` as they
    finish (see the module docstring): on ``options.scheduler`` (a Dask
    scheduler address), in ``options.jobs`` spawned worker processes, or in
    this process when that is 1. ``function(job, options)`` runs a job
    (default :func:`press.batch.run_job`; a module-level function, as it is
    sent to workers by reference). A worker that dies makes its job's result
    ``failed``; nothing here raises for a job."""
    from .batch import run_job

    function = function or run_job
    if options.scheduler or options.jobs > 1:
        jobs = sorted(jobs, key=lambda j: (-(j.size or 0), j.file_name))
    if options.scheduler:
        yield from _on_dask(jobs, options, function)
        return
    if options.jobs <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield function(job, options)
        return
    yield from _in_pool(jobs, options, function)


def _waves(jobs: list[Job], limit: int, submit: Callable[[Job], object],
           completed: Callable[[], Iterator[object]], track: dict[object, Job]) -> Iterator[object]:
    """Submit ``jobs`` keeping at most ``limit`` unfinished; yield each finished future."""
    pending = iter(jobs)

    def top_up() -> None:
        while len(track) < limit:
            job = next(pending, None)
            if job is None:
                return
            track[submit(job)] = job

    top_up()
    while track:
        future = next(completed())
        yield future
        del track[future]
        top_up()


def _in_pool(jobs: list[Job], options: BatchOptions, function: Function) -> Iterator[JobResult]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    from .batch import JobResult

    workers = min(options.jobs, len(jobs))
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                               initargs=(options, function))
    track: dict[object, Job] = {}

    def completed() -> Iterator[object]:
        done, _ = wait(cast("list[Future[JobResult]]", list(track)), return_when=FIRST_COMPLETED)
        yield from sorted(done, key=lambda f: track[f].file_name)

    finished = False
    try:
        for future in _waves(jobs, workers * (1 + IN_FLIGHT_PER_WORKER), lambda job: pool.submit(_run_shared, job),
                             completed, track):
            assert isinstance(future, Future)
            try:
                yield future.result()
            except Exception as exc:  # BrokenProcessPool: a worker crashed
                yield JobResult(track[future].file_name, "failed", f"worker crashed: {exc}")
        finished = True
    finally:
        # After the last result the workers only exit (interpreter teardown,
        # about 0.5 s): the index is written meanwhile instead of waiting;
        # concurrent.futures still joins them before the interpreter exits.
        pool.shutdown(wait=not finished, cancel_futures=not finished)


def _on_dask(jobs: list[Job], options: BatchOptions, function: Function) -> Iterator[JobResult]:
    """On a Dask cluster: the options scattered to every worker once, tasks
    submitted with ``Client.map`` in waves as batches of results come back
    (each batch gathered in one call): about 2 ms a task on a local cluster
    of this 2-core machine, against 4 ms when every task is submitted alone."""
    from itertools import islice

    from distributed import Client, as_completed

    from .batch import JobResult

    with Client(options.scheduler) as client:
        threads = sum(client.nthreads().values()) or 1
        shared = client.scatter(options, broadcast=True, hash=False)
        track: dict[object, Job] = {}
        pending = iter(jobs)
        stream = as_completed()

        def submit(count: int) -> None:
            batch = list(islice(pending, count))
            if batch:
                futures = client.map(function, batch, [shared] * len(batch), pure=False)
                track.update(zip(futures, batch))
                stream.update(futures)

        submit(threads * DASK_IN_FLIGHT_PER_THREAD)
        for done in stream.batches():
            finished = [f for f in done if f.status == "finished"]
            try:
                results = client.gather(finished)
            except Exception:  # a result lost between finishing and gathering: one at a time
                results = [None] * len(finished)
            for future, result in zip(finished, results):
                yield result if result is not None else _lost(future, track[future])
            for future in done:
                if future.status != "finished":
                    yield _lost(future, track[future])
                del track[future]
            submit(len(done))


def _lost(future: object, job: Job) -> JobResult:
    """The result of a Dask task whose result cannot be gathered (a worker that died)."""
    from .batch import JobResult

    try:
        found = future.result()  # type: ignore[attr-defined]
        if isinstance(found, JobResult):
            return found
        return JobResult(job.file_name, "failed", f"worker returned {type(found).__name__}")
    except Exception as exc:
        return JobResult(job.file_name, "failed", f"worker lost: {exc}")
