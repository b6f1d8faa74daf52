"""Code both Python environments run: the Rasa server's (3.10) and the action server's,
handoff service's and knowledge answerer's (3.11). Installed into each (`make setup`), so
neither edits `sys.path` to reach the other's modules.

- `encoder`: the MiniLM sentence encoder in plain NumPy (NLU features and knowledge search).
- `language`: which of the six languages a message is written in.
- `triggers` (+ `triggers.yml`): when to bring a person in without being asked.
- `message_guard`, `redact`, `rate_limit`: what the Rasa channels let through (size, rate,
  personal data), and the rate limits the widget server and the actions use too (in memory,
  or in Redis with REDIS_URL).
"""
