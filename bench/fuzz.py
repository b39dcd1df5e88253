"""The full fuzz campaign: the webhook and API fuzz tests with 10 000 cases in all.

The CI run of `tests/hardening/test_fuzz_*.py` draws 800 cases (the same ones every run);
this draws `--cases` fresh random ones, shared out in the same proportions, and prints the
count and the result.

    python -m bench.fuzz [--cases 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

TESTS = ["tests/hardening/test_fuzz_webhooks.py", "tests/hardening/test_fuzz_api.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    env = {**os.environ, "CACHERR_FUZZ_CASES": str(args.cases)}
    started = time.monotonic()
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *TESTS], env=env
    )
    elapsed = time.monotonic() - started
    verdict = "no failure" if code == 0 else f"FAILED (pytest exit {code})"
    print(f"fuzz: {args.cases} cases over {len(TESTS)} files in {elapsed:.0f} s: {verdict}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
