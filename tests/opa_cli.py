"""Running the ``opa`` command on bundles, for tests that compare engines."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def opa_eval(opa: str, bundle: Path, query: str, input_value: Any) -> Any:
    """``opa eval -b BUNDLE -I QUERY`` with input on stdin; the value, or None when undefined."""
    proc = subprocess.run(
        [opa, "eval", "-b", str(bundle), "-I", "-f", "json", query],
        input=json.dumps(input_value),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    if not result.get("result"):
        return None
    return result["result"][0]["expressions"][0]["value"]


def opa_decisions(
    opa: str, bundle: Path, images: list[dict[str, Any]], now: str
) -> list[dict[str, Any]]:
    value = opa_eval(
        opa, bundle, "data.freightliner.replication.decisions", {"images": images, "now": now}
    )
    assert isinstance(value, list)
    return value
