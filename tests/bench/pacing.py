"""Load on a clock: paced actions (P1, P3) and a ramp of rates to the highest with 0 errors (P2).

Arrivals are open-loop, as a class's are: the i-th action is due at start + i/rate whether or
not the earlier ones have finished. A worker (a phone, a learner) does one thing at a time, so
when every worker is busy an action starts late, and its lateness is recorded: a rate the bench
could not keep up is not a rate that was sustained.
"""
import math
import queue
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"


def paced(count, rate, workers, action, lead=0.2):
    """action(worker, i) for i < count, due at start + i/rate, on worker i % len(workers) (each worker
    does its own in order). Returns one record per action: its dict, plus `late` and any `error`."""
    records = [None] * count
    start = time.perf_counter() + lead

    def work(index):
        for i in range(index, count, len(workers)):
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            late = time.perf_counter() - due
            try:
                record = action(workers[index], i) or {}
            except Exception as exc:  # any failure is the action's error, counted, never the bench's crash
                record = {"error": _describe(exc)}
            record["late"] = late
            records[i] = record

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(min(len(workers), count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return records


def rung(rate, seconds, pool, action, deadline):
    """Run `action(worker)` at `rate` per second for `seconds`, each on a free worker of `pool`.

    Stops starting new ones at the first error, the first action slower than `deadline`, or the first
    started more than a tenth of the rung late (0.2 s at least): behind by that much, the rate is not
    being kept up. A rung whose actions slowed down as it went (`queue_building`) fails too: the rate
    was absorbed by a growing queue, not sustained. Returns {rate, planned, records, elapsed, passed, reason}.
    """
    max_late = max(0.2, 0.1 * seconds)
    count = max(2, math.ceil(rate * seconds))
    free = queue.Queue()
    for worker in pool:
        free.put(worker)
    failed = threading.Event()
    reasons = []
    records = []
    lock = threading.Lock()

    def job(worker, late, index):
        try:
            record = action(worker)
        except Exception as exc:
            record = {"error": _describe(exc)}
        finally:
            free.put(worker)
        record["late"], record["index"] = late, index
        with lock:
            records.append(record)
            if record.get("error"):
                reasons.append(record["error"])
            elif record.get("seconds", 0) > deadline:
                reasons.append(f"an action took {record['seconds']:.1f} s (limit {deadline:.0f} s)")
            else:
                return
        failed.set()

    start = time.perf_counter() + 0.2
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(pool), thread_name_prefix="rung") as executor:
        for i in range(count):
            if failed.is_set():
                break
            due = start + i / rate
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            try:
                worker = free.get(timeout=max(deadline, 1.0))
            except queue.Empty:
                reasons.append(f"all {len(pool)} workers stayed busy for {deadline:.0f} s")
                break
            late = time.perf_counter() - due
            if late > max_late:
                free.put(worker)
                reasons.append(f"could not start on time ({late:.1f} s late): all {len(pool)} workers busy")
                break
            executor.submit(job, worker, late, i)
    elapsed = time.perf_counter() - began
    if not reasons and (growth := queue_building(records)):
        reasons.append(growth)
    return {"rate": rate, "planned": count, "finished": len(records), "records": records, "elapsed": elapsed,
            "passed": not reasons and len(records) == count, "reason": reasons[0] if reasons else None}


def queue_building(records):
    """Why the rung's actions show a queue building (the last third's median duration well above the first
    third's), or None. A rate that is sustained keeps its duration: one that is not grows it rung-long."""
    timed = [r["seconds"] for r in sorted(records, key=lambda r: r["index"]) if "seconds" in r]
    if len(timed) < 6:
        return None
    third = len(timed) // 3
    first, last = statistics.median(timed[:third]), statistics.median(timed[-third:])
    if last > 1.5 * first + 0.5:
        return f"a queue was building: actions slowed from {first:.1f} s to {last:.1f} s over the rung"
    return None


def ramp(ladder, start_index, run_rung, max_rungs=None):
    """Climb `ladder` from `start_index` while rungs pass (or step down until one does), running at
    most `max_rungs` rungs (None: no limit). Returns (the highest rate that passed, or 0, the rungs run)."""
    rungs = []
    index = min(max(start_index, 0), len(ladder) - 1)
    result = run_rung(ladder[index])
    rungs.append(result)
    if result["passed"]:
        best = ladder[index]
        while index + 1 < len(ladder) and (max_rungs is None or len(rungs) < max_rungs):
            index += 1
            result = run_rung(ladder[index])
            rungs.append(result)
            if not result["passed"]:
                break
            best = ladder[index]
        return best, rungs
    while index > 0 and (max_rungs is None or len(rungs) < max_rungs):
        index -= 1
        result = run_rung(ladder[index])
        rungs.append(result)
        if result["passed"]:
            return ladder[index], rungs
    return 0, rungs
