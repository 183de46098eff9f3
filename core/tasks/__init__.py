"""Asynchronous work: the task queue that hands executions and webhooks to the worker
(`core.tasks.queue`) and the worker's check of who is calling (`core.tasks.auth`).

Nothing here is imported eagerly: the Cloud Tasks client, gRPC, google-auth and httpx load on
first use, so a function that only enqueues pays for what it uses."""
