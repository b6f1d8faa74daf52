"""rasa-sdk action server: one thin Action class per job.

Start it with `python -m rasa_sdk --actions actions`; the SDK imports every module here.
"""
