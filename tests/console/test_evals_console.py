"""Evals in the console, in a real browser: an eval set's cases edited row by row, a run with
live progress and its report (a failing case with why, its run a link), the cases fixed (a new
version of the set) and run again, the two runs compared, the pass rate by version; axe on each
view; then the listing of the gated, published agent shows its pass rate."""

from __future__ import annotations

import time

import requests
from playwright.sync_api import expect

from tests.console.test_chat_console import echo_agent, signed_in
from tests.console.test_console_flow import audit


def test_an_eval_set_is_edited_run_reported_and_compared(browser, console_url, screenshots):
    ctx, page, headers = signed_in(browser, console_url, viewport={"width": 1280, "height": 900})
    agent_id = echo_agent(console_url, headers, name="parrot")
    page.goto(f"{console_url}/console#/agents/{agent_id}")
    page.get_by_role("heading", name="Parrot").wait_for()
    page.get_by_text("Evals", exact=True).click()
    page.get_by_role("button", name="New eval set").click()
    page.get_by_label("Set name").fill("echoes")
    page.get_by_label("Case 1 input").fill("hello there")
    page.get_by_label("Case 1 expected").fill("hello there")
    page.get_by_role("button", name="Add a case").click()
    page.get_by_label("Case 2 input").fill("good night")
    page.get_by_label("Case 2 expected").fill("good morning")  # the echo never says it
    page.get_by_role("button", name="Create eval set").click()
    runs = page.get_by_role("region", name="Evals of echoes")
    runs.get_by_role("button", name="Run eval").click()
    report = page.get_by_role("region", name="Eval report")
    expect(report.get_by_role("status")).to_contain_text("succeeded", timeout=30_000)
    expect(report.get_by_role("status")).to_contain_text(
        "2 of 2 scored · pass rate 50%", timeout=15_000
    )
    failed = report.get_by_role("row", name="case 2")
    expect(failed).to_contain_text("failed")
    expect(failed).to_contain_text("contains")
    expect(failed.get_by_role("link", name="open the run of case 2")).to_be_visible()
    audit(page, "eval-report", screenshots)

    # fix the expectation: a new version of the set; run again and compare
    page.get_by_role("button", name="Edit cases of echoes").click()
    page.get_by_label("Case 2 expected").fill("good night")
    page.get_by_role("button", name="Save eval set").click()
    expect(page.get_by_role("list", name="Eval sets")).to_contain_text("version 2", timeout=15_000)
    runs.get_by_role("button", name="Run eval").click()
    expect(report.get_by_role("status")).to_contain_text("pass rate 100%", timeout=30_000)
    boxes = runs.get_by_role("checkbox")
    expect(boxes).to_have_count(2, timeout=15_000)
    boxes.nth(0).check()
    boxes.nth(1).check()
    compared = page.get_by_role("region", name="Comparison")
    expect(compared).to_contain_text("1 better · 0 worse · 1 the same", timeout=15_000)
    expect(compared.get_by_role("list", name="Better")).to_contain_text("case 2")
    expect(page.get_by_role("list", name="Pass rate by version")).to_contain_text("100%")
    audit(page, "eval-compare", screenshots)
    # a case run again on the agent as it is: its run opens like any other
    report.get_by_role("button", name="run again case 2").click()
    page.get_by_role("heading", name="Run of Parrot").wait_for()
    expect(page.get_by_text("good night").first).to_be_visible()
    # ended before the test does: a run left queued in the shared database would be found by
    # the sweeps of later tests
    run_id = page.evaluate("location.hash").rsplit("/", 1)[-1]
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = requests.get(f"{console_url}/executions/{run_id}", headers=headers, timeout=10)
        status = status.json()["status"]
        if status in ("succeeded", "failed", "cancelled", "timed_out"):
            break
        time.sleep(0.2)
    assert status == "succeeded"

    # gated on the set and published: the listing says how the version did on it
    sets = requests.get(f"{console_url}/agents/{agent_id}/eval-sets", headers=headers, timeout=10)
    gate = {"release_gate": {"eval_set_id": sets.json()["items"][0]["id"], "min_pass_rate": 1}}
    gated = requests.patch(
        f"{console_url}/agents/{agent_id}", json={"metadata": gate}, headers=headers, timeout=10
    )
    assert gated.status_code == 200, gated.text
    listing = {"agent_id": agent_id, "category": "other"}
    published = requests.post(
        f"{console_url}/marketplace", json=listing, headers=headers, timeout=10
    )
    assert published.status_code == 201, published.text
    page.goto(f"{console_url}/console#/marketplace/{published.json()['id']}")
    expect(page.get_by_text("passed 100% of its evals")).to_be_visible(timeout=15_000)
    ctx.close()
