"""services/model_thread.py: one long-lived thread runs a server process's model work."""

from __future__ import annotations

import threading

import pytest

from seedance.services import model_thread


def test_calls_run_on_one_long_lived_thread_never_the_callers():
    first = model_thread.call(threading.get_ident)
    from_other_threads = []
    workers = [threading.Thread(target=lambda: from_other_threads.append(model_thread.call(threading.get_ident)))
               for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert first != threading.get_ident()
    assert from_other_threads == [first] * 3
    assert model_thread.call(model_thread.on_model_thread) and not model_thread.on_model_thread()
    # a call made from the model thread runs inline (no deadlock waiting on itself)
    assert model_thread.call(lambda: model_thread.call(threading.get_ident)) == first


def test_errors_reach_the_caller():
    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        model_thread.call(boom)
    assert model_thread.call(lambda: 3) == 3  # the thread survives


def test_configure_checks_values_and_refuses_a_change_once_started():
    model_thread.call(lambda: None)  # started (if no other test did)
    with pytest.raises(ValueError, match="at least 1"):
        model_thread.configure(0)
    with pytest.raises(RuntimeError, match="already started"):
        model_thread.configure(4, 2)
