"""What the customer is told about the handoff (kept import-light for the action server)."""

QUEUED_NOTICE = (
    "I've passed our conversation to a person from our support team, with everything you "
    "told me, so you won't have to repeat yourself. You're in the queue; they will reply "
    "right here. Until then I'll stay quiet."
)
AI_BACK_NOTICE = (
    "You're talking to the AI assistant again. Ask me anything, or ask for a person "
    "whenever you like."
)
CLOSED_NOTICE = "Our support team has closed this conversation. Thank you for contacting us."


def joined_notice(agent_name: str) -> str:
    return f"{agent_name} from support (human) joined the chat."
