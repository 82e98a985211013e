"""The demo embeds the worker: starting it must leave Ctrl-C and SIGTERM to the demo, not to huey."""

from __future__ import annotations

import signal

from plugin.ledger import Ledger
from plugin.queue import Queue, Runner


def test_embedded_runner_leaves_the_host_process_signal_handlers_alone(config):
    ledger = Ledger(config.database, base_dir=config.base_dir)
    ledger.create_schema()
    runner = Runner(Queue(config, ledger).bind(lambda event_id: None), workers=1, periodic=False)
    hosts = {number: (lambda *_: None) for number in (signal.SIGINT, signal.SIGTERM)}
    previous = {number: signal.signal(number, handler) for number, handler in hosts.items()}
    try:
        runner.start()
        try:
            assert {number: signal.getsignal(number) for number in hosts} == hosts
        finally:
            runner.stop()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        ledger.dispose()
