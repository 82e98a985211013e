"""`python -m connectors.sandbox --port N`: serve the sandbox tracker until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from connectors.sandbox.server import Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    parser.add_argument("--state-file", help="keep state in this JSON file, rewritten on every write")
    parser.add_argument("--schema", choices=("auto", "official", "trimmed"), default="auto")
    parser.add_argument("--search-lag", type=float, default=0.0, help="seconds new Jira issues stay out of search")
    parser.add_argument("--jira-webhook-url")
    parser.add_argument("--jira-webhook-secret")
    parser.add_argument("--github-webhook-url")
    parser.add_argument("--github-webhook-secret")
    args = parser.parse_args(argv)
    sandbox = Sandbox.start(port=args.port, host=args.host, state_file=args.state_file, schema=args.schema,
                            search_lag=args.search_lag)
    sandbox.configure_webhooks("jira", args.jira_webhook_url, args.jira_webhook_secret)
    sandbox.configure_webhooks("github", args.github_webhook_url, args.github_webhook_secret)
    print(f"sandbox listening on {sandbox.url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())  # Ctrl-C is the normal way to stop it
    done.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
