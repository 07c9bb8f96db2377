"""``python -m benchmarks.fuzz [--runs N]``: coverage-guided fuzzing (atheris/libFuzzer).

Two targets, each in its own child process (libFuzzer runs once per process), each fed
``--runs`` inputs (default 100,000) starting from a corpus of valid frames that the
mutator bends:

- ``parser``: :func:`syncwatch.core.protocol.parse_frame` must return a frame or raise
  ProtocolError - any other exception is a crash; whatever it accepts must survive an
  encode/parse round trip unchanged.
- ``hub``: each input is sent as a text frame to ``/v1/publish`` of a real hub on
  127.0.0.1 (in-process, over a real socket). The hub must answer every frame with an
  ``ack`` or an ``error`` frame, or close with a protocol code (1003, 1007, 1008, 1009);
  anything else - no answer, another close code, a hub that stops answering /healthz -
  is a crash. At the end every stored update must parse as a valid sync_update.

A crash leaves ``crash-*`` files (the input) in the working directory: each becomes a
regression test in tests/fuzz/test_regressions.py. Needs ``atheris`` in the venv; without
it the same targets run under hypothesis with the same number of examples.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from benchmarks.fuzz_targets import TARGETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--target", choices=sorted(TARGETS), help="one target, in-process")
    args = parser.parse_args(argv)
    if args.target is not None:
        return TARGETS[args.target](args.runs)
    failed = []
    for name in sorted(TARGETS):
        started = time.monotonic()
        print(f"fuzz {name}: {args.runs} inputs", flush=True)
        code = subprocess.call(
            [sys.executable, "-m", "benchmarks.fuzz", "--target", name, "--runs", str(args.runs)]
        )
        seconds = time.monotonic() - started
        print(f"fuzz {name}: exit {code} after {seconds:.0f} s ({args.runs / seconds:,.0f}/s)")
        if code != 0:
            failed.append(name)
    print("fuzz: " + (f"FAILED: {', '.join(failed)}" if failed else "no crash"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
