"""Running test code in several threads: run_threads starts one thread per target, joins
them within a timeout and re-raises the first error a thread hit in the main thread."""
import threading


def run_threads(targets, timeout_s):
    """Daemon threads: one left hanging (a deadlock, which fails the test) cannot keep the
    test run from ending."""
    errors = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as exc:     # noqa: BLE001 - reported in the main thread
                errors.append(exc)
        return run

    threads = [threading.Thread(target=guarded(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
        assert not t.is_alive(), "a thread did not finish (deadlock?)"
    if errors:
        raise errors[0]
