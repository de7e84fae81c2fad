"""The last-resort bus for `mmt up`: an embedded Redis-compatible server (fakeredis).

Used only when REDIS_URL is unset and no redis-server is installed; fakeredis implements
streams and consumer groups, which is all a laptop demo needs. Never for production.
"""

from __future__ import annotations

import argparse
import signal
import threading

from fakeredis import TcpFakeServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = TcpFakeServer(("127.0.0.1", args.port), server_type="redis")

    def stop(_signum: int, _frame: object) -> None:
        # shutdown() waits for serve_forever to return, so call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
