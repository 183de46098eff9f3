"""The offline test-echo model says the message back, and follows its one instruction (so a
prompt change shows in an eval without a cloud model)."""

from __future__ import annotations

import asyncio

from pydantic_ai import Agent

from core.agents.echo import echo_model


def test_it_says_the_message_back_and_in_capitals_when_told() -> None:
    plain = Agent(echo_model(), instructions="Be helpful.")
    shouting = Agent(echo_model(), instructions="Be helpful. Reply in capitals.")
    # asyncio.run closes its loop (run_sync would leave one for the garbage collector to warn of)
    assert asyncio.run(plain.run("good night, Paris")).output == "good night, Paris"
    assert asyncio.run(shouting.run("good night, Paris")).output == "GOOD NIGHT, PARIS"
