"""Remote A2A agents as an agent's tools (a definition's `a2a_agents`)."""
