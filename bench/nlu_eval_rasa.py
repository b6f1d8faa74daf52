"""Parse every message of the evaluation splits with a trained Rasa NLU model.

Runs inside the Rasa venv (Python 3.10); `bench/nlu_clinc150.py` calls it. Reads a JSON file
`{"split": [[text, gold], ...], ...}`, loads the model in-process and writes one JSON line per
message: split, gold label, the classifier's top intent (ignoring `nlu_fallback`, so that the
threshold can be tuned afterwards), its confidence and the parse time in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path

# Custom components are found by module path from the repository root, as `rasa` itself does.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

FALLBACK_INTENT = "nlu_fallback"


def _top_intent(parsed: dict) -> tuple[str, float]:
    """The classifier's own best guess, skipping the FallbackClassifier's replacement."""
    for entry in parsed.get("intent_ranking") or []:
        if entry.get("name") != FALLBACK_INTENT:
            return str(entry["name"]), float(entry.get("confidence") or 0.0)
    intent = parsed.get("intent") or {}
    return str(intent.get("name")), float(intent.get("confidence") or 0.0)


async def _run(model: Path, messages: dict[str, list[list[str]]], out: Path) -> None:
    from rasa.core.agent import Agent
    from tqdm import tqdm

    agent = Agent.load(str(model))
    await agent.parse_message("warm up")  # first call builds lazy state; keep it out of timing
    total = sum(len(rows) for rows in messages.values())
    with out.open("w", encoding="utf-8") as fh, tqdm(total=total, desc="parse", unit="msg") as bar:
        for split, rows in messages.items():
            for text, gold in rows:
                start = time.perf_counter()
                parsed = await agent.parse_message(text)
                seconds = time.perf_counter() - start
                intent, confidence = _top_intent(parsed)
                record = {
                    "split": split,
                    "gold": gold,
                    "intent": intent,
                    "confidence": confidence,
                    "fallback": (parsed.get("intent") or {}).get("name") == FALLBACK_INTENT,
                    "seconds": seconds,
                }
                fh.write(json.dumps(record) + "\n")
                bar.update(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="trained model (.tar.gz)")
    parser.add_argument("--messages", type=Path, required=True, help="JSON of splits to parse")
    parser.add_argument("--out", type=Path, required=True, help="JSON-lines predictions file")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        print(f"error: model file not found: {args.model}", file=sys.stderr)
        return 2
    from rasa.utils.log_utils import configure_structlog

    logging.basicConfig(level=logging.WARNING)
    configure_structlog(logging.WARNING)  # otherwise every parse is logged at debug level
    messages = json.loads(args.messages.read_text(encoding="utf-8"))
    asyncio.run(_run(args.model, messages, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
