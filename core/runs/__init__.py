"""The run engine: how an execution is started, claimed, run step by step, recorded and
finished (see core/README.md)."""
