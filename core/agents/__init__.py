"""Agents: the definition schema, model providers, the agent factory and the runner.

Importing this package is cheap; provider SDKs and pydantic-ai load only when an agent is built.
"""
