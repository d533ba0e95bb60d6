"""The lock behind OpaServerEngine's atomic swap: a reload waits for the
evaluations in flight, and evaluations wait for a reload."""

from __future__ import annotations

import threading

from carbon_pricing.engine.base import ReadWriteLock


def test_writer_waits_for_readers_in_flight() -> None:
    lock = ReadWriteLock()
    reader_in = threading.Event()
    release_reader = threading.Event()
    order: list[str] = []

    def reader() -> None:
        with lock.read():
            reader_in.set()
            release_reader.wait()
            order.append("reader done")

    def writer() -> None:
        with lock.write():
            order.append("writer")

    r = threading.Thread(target=reader)
    r.start()
    reader_in.wait()
    w = threading.Thread(target=writer)
    w.start()
    w.join(timeout=0.2)
    assert w.is_alive(), "the writer must not run while a reader is inside"
    release_reader.set()
    r.join()
    w.join()
    assert order == ["reader done", "writer"]


def test_new_readers_wait_for_a_writer() -> None:
    lock = ReadWriteLock()
    writer_in = threading.Event()
    release_writer = threading.Event()
    order: list[str] = []

    def writer() -> None:
        with lock.write():
            writer_in.set()
            release_writer.wait()
            order.append("writer done")

    def reader() -> None:
        with lock.read():
            order.append("reader")

    w = threading.Thread(target=writer)
    w.start()
    writer_in.wait()
    r = threading.Thread(target=reader)
    r.start()
    r.join(timeout=0.2)
    assert r.is_alive(), "a reader must not run while the writer swaps"
    release_writer.set()
    w.join()
    r.join()
    assert order == ["writer done", "reader"]
