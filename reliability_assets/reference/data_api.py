"""The reference pipeline's upstream: the generator's customers and orders behind the framework's
fault-injecting records API (``reliability_assets.testing.RecordsAPI``).

    python -m reliability_assets.reference.data_api --port 8765 --chaos api_rate_limited

``/v1/customers`` pages by cursor, ``/v1/orders`` by page, as the reference's ``ResilientAPI`` sources
expect. The generator is imported when the server starts: nothing else may import this module (fast code
location).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Any

from reliability_assets.testing.records_api import Record, RecordCollection, RecordsAPI, records_of_frame


def _plan_out_of_domain(record: Record) -> Record:
    return {**record, "plan": "platinum-plus"}


def _negative_amount(record: Record) -> Record:
    # the corrupted scenario renames `amount` to `order_total`
    key = "amount" if "amount" in record or "order_total" not in record else "order_total"
    value = record.get(key)
    return {**record, key: -abs(value) if isinstance(value, int | float) and value else -1.0}


class DataAPI(RecordsAPI):
    """The generator's ``scenario`` data (``seed``, ``size`` customers) as the reference's upstream API."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 7,
        size: int = 5000,
        scenario: str = "clean",
        chaos: str = "",
        slow_s: float = 30.0,
    ) -> None:
        self.seed, self.size, self.scenario = seed, size, scenario
        super().__init__(self._generated, host=host, port=port, chaos=chaos, slow_s=slow_s)

    def _generated(self) -> dict[str, RecordCollection]:
        from reliability_assets.reference.analytics.generator import generate

        raw = generate(seed=self.seed, size=self.size, scenario=self.scenario)
        return {
            "customers": RecordCollection(
                records_of_frame(raw.customers),
                paging="cursor",
                id_field="customer_id",
                wrong_type_field="customer_id",
                out_of_domain=_plan_out_of_domain,
            ),
            "orders": RecordCollection(
                records_of_frame(raw.orders),
                paging="page",
                id_field="order_id",
                wrong_type_field="customer_id",
                out_of_domain=_negative_amount,
            ),
        }


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default=env("RELIABILITY_API_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("RELIABILITY_API_PORT", "8765")))
    parser.add_argument("--seed", type=int, default=int(env("RELIABILITY_SEED", "7")))
    parser.add_argument("--size", type=int, default=int(env("RELIABILITY_SIZE", "5000")))
    parser.add_argument("--scenario", default=env("RELIABILITY_SCENARIO", "clean"))
    parser.add_argument("--chaos", default=env("RELIABILITY_API_CHAOS", ""))
    parser.add_argument("--slow-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    done = threading.Event()
    previous: dict[int, Any] = {
        sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    api = DataAPI(**vars(args))  # the option names are the constructor's
    try:
        with api:
            chaos = api.chaos or "none"
            line = f"serving customers and orders on {api.base_url} (scenario={args.scenario}, chaos={chaos})"
            print(line, flush=True)
            while not done.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
