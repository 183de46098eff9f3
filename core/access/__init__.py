"""Who may do what, below every layer that asks: the caller a token names and their account
(`callers`), what a role may do (`roles`), who may see, run or edit an agent (`agents`), and the
rows read ahead with the caller for the service that decides (`preloaded`)."""
