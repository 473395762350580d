"""Run localstripe on 127.0.0.1 with its state in a directory of our choosing.

This file runs in localstripe's own interpreter (a separate virtualenv, see README.md), as
``python tests/stripe_api/localstripe_launcher.py --port 0 --state-dir DIR``. It is the only
place that imports localstripe (a GPL program), and nothing imports this file: the test
process talks to localstripe over HTTP only.

localstripe's own command line binds every interface (``::``) on a fixed port and keeps its
state in ``/tmp/localstripe.pickle``, shared by every instance on the machine. Here the server
binds the loopback address only, on the port given (0: any free one; the port chosen is written
to ``DIR/port`` once the socket listens). Its store stays in memory unless ``--persist`` is
given: localstripe pickles the whole store after every object it creates (quadratic: 200
customers took 34 s instead of 12.5 s on a loaded 2-core machine), and a test run starts from
scratch anyway. With ``--persist`` the store goes to ``DIR/store.pickle``, and ``--resume``
loads it at start (a test that restarts localstripe and expects its objects back).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from pathlib import Path


def _keep_state_in(state_dir: Path, persist: bool) -> None:
    """Point localstripe's store at a file of ``state_dir`` (its path is fixed in its code),
    or keep it in memory only."""
    import pickle

    from localstripe import resources

    path = state_dir / "store.pickle"

    def dump_to_disk(store: dict[str, object]) -> None:
        # Written aside and renamed, so that a process killed mid-write leaves the old state.
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            pickle.dump(store, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)

    def try_load_from_disk(store: dict[str, object]) -> None:
        if path.exists():
            with path.open("rb") as source:
                saved = pickle.load(source)  # noqa: S301 - our own file, written above
            store.clear()
            store.update(saved)

    def in_memory_only(store: dict[str, object]) -> None:
        pass

    resources.Store.dump_to_disk = dump_to_disk if persist else in_memory_only
    resources.Store.try_load_from_disk = try_load_from_disk


def _listen(port: int, state_dir: Path) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    chosen = state_dir / "port.partial"
    chosen.write_text(str(sock.getsockname()[1]))
    os.replace(chosen, state_dir / "port")
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--persist", action="store_true", help="save the store in DIR")
    parser.add_argument("--resume", action="store_true", help="load the store saved in DIR")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args()

    _keep_state_in(args.state_dir, args.persist)
    from aiohttp import web
    from localstripe import server

    if args.resume:
        server.store.try_load_from_disk()
    logger = logging.getLogger("aiohttp.access")
    if args.access_log:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(logging.StreamHandler())
    sock = _listen(args.port, args.state_dir)
    web.run_app(server.app, sock=sock, access_log=logger if args.access_log else None)


if __name__ == "__main__":
    main()
