"""Run in Rasa's venv: feed tracker snapshots to HandoffTriggerPolicy, print predictions."""

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import Event  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

from bot.handoff_bridge import HandoffTriggerPolicy  # noqa: E402

domain = Domain.load(str(ROOT / "domain.yml"))
with tempfile.TemporaryDirectory() as tmp:
    storage = LocalModelStorage(Path(tmp))
    policy = HandoffTriggerPolicy.create(
        HandoffTriggerPolicy.get_default_config(),
        storage,
        Resource("handoff_trigger"),
        ExecutionContext(GraphSchema({}), "probe"),
    )
    policy.train([], domain)
    out = {}
    for name in sys.argv[1:]:
        snap = json.loads(Path(name).read_text())
        events = [Event.from_parameters(e) for e in snap["events"]]
        tracker = DialogueStateTracker.from_events(snap["sender_id"], events, domain.slots)
        pred = policy.predict_action_probabilities(tracker, domain)
        best = max(range(len(pred.probabilities)), key=pred.probabilities.__getitem__)
        out[Path(name).name] = {
            "action": domain.action_names_or_texts[best] if pred.max_confidence > 0 else None,
            "confidence": pred.max_confidence,
            "priority": pred.policy_priority,
            # The slot events the policy sets (why a person is brought in).
            "slots": {e.key: e.value for e in pred.events if getattr(e, "key", None)},
        }
print(json.dumps(out))
