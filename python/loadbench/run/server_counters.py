"""What a server says it committed, read from its own metrics, beside what loadbench counted.

SpacetimeDB exports Prometheus counters at ``/v1/metrics``; with ``USE_SPACETIME_METRICS_ENDPOINT=1``
the spacetimedb connector reads ``spacetime_num_txns_total{committed="true",reducer="transfer",
txn_type="Reducer"}`` before the sessions open and after they close, and the report gives the
difference (``server_committed``: warmup and the measured window together, so it is at least the
report's committed count when nothing else calls the reducer).
"""

from __future__ import annotations

import re
import urllib.request

from loadbench.connectors.spec import ConnectorSpec
from loadbench.errors import RunFailed
from loadbench.secrets import redact, scrub, secrets_of

METRIC = "spacetime_num_txns_total"
LABELS = {"committed": "true", "reducer": "transfer", "txn_type": "Reducer"}
_LINE = re.compile(r"^([^{\s]+)(?:\{([^}]*)\})?\s+([0-9.eE+-]+)(?:\s+\d+)?$")


def parse_counter(text: str, metric: str, labels: dict[str, str]) -> int | None:
    """The value of the first sample of ``metric`` whose labels include ``labels`` (None if none)."""
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if not m or m.group(1) != metric:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return int(float(m.group(3)))
    return None


class ServerCounter:
    """Reads the counter at ``url`` (which may hold a token in its query: messages show it redacted)."""

    def __init__(self, url: str):
        self.url = url

    def read(self, timeout_s: float = 10.0) -> int:
        """The counter's value now; RunFailed when the server does not answer within ``timeout_s``."""
        try:
            with urllib.request.urlopen(self.url, timeout=timeout_s) as response:
                text = response.read().decode("utf-8", "replace")
        except OSError as exc:
            reason = scrub(str(exc), secrets_of(self.url))
            raise RunFailed(f"cannot read the server's metrics at {redact(self.url)}: {reason}") from None
        value = parse_counter(text, METRIC, LABELS)
        return 0 if value is None else value  # no sample yet: nothing committed


def for_spec(spec: ConnectorSpec) -> ServerCounter | None:
    url = spec.options.get("metrics_url")
    return ServerCounter(url) if url else None
