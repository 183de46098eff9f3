"""PostgreSQL stopped for a while under load, then started (tests/support/outage.py): the
answers during the outage by status, what each in-flight sync caller was told, every run's end
and the tool executions against runs. By hand (about two minutes):

    .venv/bin/python bench/db_outage.py [--seconds 20] [--clients 8] [--async-runs 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from tests.support.outage import run_outage

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--async-runs", type=int, default=50)
    parser.add_argument("--in-flight", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_outage(
            Path(tmp),
            outage_s=args.seconds,
            clients=args.clients,
            async_runs=args.async_runs,
            in_flight=args.in_flight,
        )
    print("\n".join(report.lines()))


if __name__ == "__main__":
    main()
