"""attnlab.scheduler_fix: Snakemake's scheduler keeps one re-evaluation timer, not one per pass."""

import threading
import time
import types

from snakemake.scheduling.job_scheduler import JobScheduler

from attnlab.scheduler_fix import install


def _releases(n_passes: int, delay: float = 0.05) -> int:
    """Arm the re-evaluation n_passes times (as n scheduling passes would), count the wake-ups."""
    sched = types.SimpleNamespace(_open_jobs=threading.Semaphore(0))
    for _ in range(n_passes):
        JobScheduler._schedule_reevalutation(sched, delay)
    time.sleep(delay + 0.3)
    woken = 0
    while sched._open_jobs.acquire(blocking=False):
        woken += 1
    return woken


def test_many_passes_arm_one_timer_and_it_wakes_the_scheduler_once():
    assert install() and install()  # idempotent
    assert _releases(5) == 1  # unpatched Snakemake 9.27: 5 timers, 5 wake-ups, 5 new chains


def test_a_fired_timer_can_be_armed_again():
    install()
    assert _releases(1) == 1
    assert _releases(1) == 1


def test_the_timer_is_a_daemon_so_exit_never_waits_for_it():
    install()
    sched = types.SimpleNamespace(_open_jobs=threading.Semaphore(0))
    JobScheduler._schedule_reevalutation(sched, 10.0)
    assert sched._attnlab_timer.daemon and sched._attnlab_timer.is_alive()
    sched._attnlab_timer.cancel()
