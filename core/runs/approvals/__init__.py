"""Tool calls that wait for a person, in one place: how a run stops for them (`suspending`), a
person's decisions on them (`deciding`, POST /executions/{id}/approvals), how decisions reach the
resumed run exactly once, and how an undecided wait ends (`suspending.expire_undecided`, the
sweeper's), over the rows they change (`rows`).

A run whose model calls a tool that requires approval ends its delivery with pydantic-ai's
DeferredToolRequests: the execution is saved `waiting_approval` with its pending calls, its lease
given up, events `approval_requested` written and its webhook queued. A decision stores the
decisions, sets it `queued` and enqueues it; the delivery that claims it resumes from the saved
messages with DeferredToolResults. Once the decided calls' results are saved in the messages, the
decisions are spent: a redelivery after a crash resumes from the messages and never applies
(runs) them again. A workflow waits while any of its steps waits, and lists their calls."""
