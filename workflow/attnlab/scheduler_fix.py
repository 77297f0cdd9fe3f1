"""One re-evaluation timer for Snakemake's job scheduler, not one per pass.

Snakemake 9 (9.27 here) limits job starts per time span (``--max-jobs-per-timespan``, default
100/1s, always on from the command line). After every scheduling pass its ``JobScheduler`` arms a
``threading.Timer(timespan)`` that wakes the scheduler for another pass, and that pass arms another
timer. A pass woken by a finishing job arms one too, so every finished job starts a new chain that
never ends: after N finished jobs N timers fire each second, each pass stats the input files of
every ready job. On our smoke DAG (218 jobs on 2 cores) the Snakemake process itself burnt ~420 of
the run's ~1600 CPU seconds, about a third of a core taken from the jobs (measured, bench/README
"Snakemake's scheduler"). Snakemake issue 3804 ("forkbombing itself", 9.13) looks like the same bug.

``install()`` (called by rules/common.smk in the Snakemake process) keeps at most one pending timer
per scheduler: the rate limit still gets its re-evaluation within one time span, passes still run
whenever a job finishes, and nothing else changes. The timer is a daemon, so Snakemake's exit never
waits for it. Without the private method (another Snakemake), nothing is patched.
"""

from __future__ import annotations

import threading


def install() -> bool:
    """Patch ``JobScheduler._schedule_reevalutation`` (Snakemake's spelling); True when patched."""
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    original = getattr(JobScheduler, "_schedule_reevalutation", None)
    if original is None or getattr(original, "attnlab_single_timer", False):
        return original is not None

    def schedule_reevaluation(self, delay) -> None:
        pending = getattr(self, "_attnlab_timer", None)
        if pending is not None and pending.is_alive():
            return  # a pass within `delay` is already due
        timer = threading.Timer(delay, self._open_jobs.release)
        timer.daemon = True
        self._attnlab_timer = timer
        timer.start()

    schedule_reevaluation.attnlab_single_timer = True
    JobScheduler._schedule_reevalutation = schedule_reevaluation
    return True
