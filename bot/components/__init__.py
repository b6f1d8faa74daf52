"""Custom Rasa graph components used by the NLU pipeline in config.yml."""
