"""Run by tests/bot/test_action_response_check.py inside the Rasa venv (Python 3.10).

Checks action server responses (JSON list in argv[1]) with Rasa's own validation and with the
cached one bot/action_recovery.py installs; prints each verdict and error message, how many
times the schema itself was checked, and (for information) the time per call of each.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(1, str(ROOT))

from jsonschema import ValidationError, validators  # noqa: E402
from rasa.core.actions.action import RemoteAction  # noqa: E402

ORIGINAL = RemoteAction._validate_action_result

from bot import action_recovery  # noqa: E402


def verdict(check: Any, action: RemoteAction, response: Any) -> dict[str, Any]:
    try:
        check(action, response)
        return {"valid": True, "message": ""}
    except ValidationError as e:
        return {"valid": False, "message": e.message}


def per_call(check: Any, action: RemoteAction, response: Any, n: int = 50) -> float:
    start = time.perf_counter()
    for _ in range(n):
        check(action, response)
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    responses = json.loads(sys.argv[1])
    action = RemoteAction("action_answer_from_knowledge", None)
    checks: list[int] = []
    check_schema = validators.Draft202012Validator.check_schema.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, schema: Any, *args: Any, **kwargs: Any) -> Any:
        checks.append(1)
        return check_schema(cls, schema, *args, **kwargs)

    action_recovery.install()
    cached = RemoteAction._validate_action_result
    out: dict[str, Any] = {"rasa": [], "cached": []}
    for response in responses:
        out["rasa"].append(verdict(ORIGINAL, action, response))
    for cls in {validators.validator_for(action.action_response_format_spec())}:
        cls.check_schema = classmethod(counting)  # type: ignore[method-assign]
    for response in responses:
        out["cached"].append(verdict(cached, action, response))
    out["schema_checks"] = len(checks)
    out["ms_rasa"] = per_call(ORIGINAL, action, responses[0])
    out["ms_cached"] = per_call(cached, action, responses[0])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
