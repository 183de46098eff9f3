"""The console's whole path in a real browser, as two people use it: register, create an agent
from a template and have it ask before writing files, chat (the answer streams in, tool calls
show), approve a call, upload a file and see it listed, publish; a second person (on a 375 px
phone screen) searches the marketplace, installs and rates it. Every page is screenshotted and
checked by axe-core (no serious or critical violation)."""

from __future__ import annotations

import gzip
import re
import time
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.console.conftest import AXE_RESULTS, REPORT, ROOT

AXE = ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery"
checked = AXE_RESULTS


def audit(page: Any, name: str, shots: Path) -> None:
    """Screenshot the page and run axe-core on it: no serious or critical violation."""
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(shots / f"{len(checked) + 1:02d}-{name}.png"), full_page=True)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        f" {[n.get('failureSummary', '') for n in v['nodes']][:1]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    checked[name] = len(bad)
    assert bad == [], f"{name}: {bad}"


def register(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/console")
    page.get_by_role("button", name="Register").click()
    # by keyboard, as a person without a mouse would
    page.get_by_label("Username").focus()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(f"{name}@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Agents", exact=True).wait_for()


def test_register_build_chat_approve_upload_publish_then_another_user_installs_and_rates(
    browser, console_url, screenshots, tmp_path, mcp_server
):
    # bypass_csp: axe-core is injected as an inline script, which the page's CSP refuses
    owner = browser.new_context(
        viewport={"width": 1280, "height": 900},
        bypass_csp=True,
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = owner.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    name = f"ann{uuid.uuid4().hex[:6]}"

    started = time.monotonic()
    page.goto(f"{console_url}/console")
    page.get_by_label("Username").wait_for()
    first_page_ms = (time.monotonic() - started) * 1000
    audit(page, "sign-in", screenshots)
    register(page, console_url, name)
    audit(page, "agents", screenshots)

    # an agent from a template, told to ask before it writes a file
    page.get_by_role("link", name="New agent").click()
    page.get_by_label("Start from").select_option(label="Template: File analyst")
    page.get_by_label("Name", exact=True).fill("analyst")
    page.get_by_label("Display name").fill("Analyst")
    audit(page, "new-agent", screenshots)
    page.get_by_role("button", name="Create from template").click()
    page.get_by_role("heading", name="Analyst").wait_for()
    page.get_by_label("Ask me before each call of file_write").check()
    page.get_by_role("button", name="Save as a new version").click()
    page.get_by_text("Saved as a new version.").wait_for()
    page.get_by_text("Versions").click()
    page.get_by_role("button", name="Compare with current").last.click()
    page.locator(".diff .add").filter(has_text="requires_approval").wait_for()
    audit(page, "agent", screenshots)

    # a chat: the answer streams in with its tool calls; the file write waits for approval
    started = time.monotonic()
    page.get_by_role("button", name="New chat").click()
    composer = page.get_by_label("Message")
    composer.wait_for(state="visible")
    page.wait_for_function("() => !document.querySelector('#message').disabled")
    interactive_ms = (time.monotonic() - started) * 1000
    composer.fill("Summarise the notes.")
    page.get_by_role("button", name="Send").click()
    chat = page.get_by_role("list", name="Conversation")
    chat.locator(".tool-call").filter(has_text="find").first.wait_for()
    chat.locator(".tool-result").first.wait_for(state="attached")  # folded once done
    approve = page.get_by_role("button", name="Approve")
    approve.wait_for()
    audit(page, "chat-approval", screenshots)
    page.get_by_label("Reason for file_write (optional)").fill("fine")
    approve.click()
    chat.locator(".approval").filter(has_text="Approved").wait_for()
    chat.locator(".tool-result").filter(has_text="file_write").wait_for()
    chat.locator(".msg.agent").last.wait_for()
    assert page.get_by_role("button", name="Approve").count() == 0
    # a new chat asks again; this time the call is denied, with the reason the model is told
    page.get_by_role("link", name="The agent").click()
    page.get_by_role("button", name="New chat").click()
    page.get_by_label("Message").fill("Write the report.")
    page.get_by_role("button", name="Send").click()
    deny = page.get_by_role("button", name="Deny")
    deny.wait_for()
    page.get_by_label("Reason for file_write (optional)").fill("not before Friday")
    deny.click()
    chat.locator(".approval").filter(has_text="Denied").filter(
        has_text="not before Friday"
    ).wait_for()
    chat.locator(".tool-result").filter(has_text="file_write").filter(has_text="denied").wait_for()
    expect(deny).to_have_count(0)
    expect(page.get_by_label("Message")).to_be_enabled()

    # the run's trace: its steps on one time axis, the write folded with its denial and result,
    # names where there were ids
    page.get_by_role("link", name="Executions").click()
    page.get_by_role("table").get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Run of Analyst")
    steps = page.get_by_role("list", name="Steps")
    write = steps.locator(".step.tool").filter(has_text="Tool · file_write")
    expect(write).to_have_count(1)
    expect(write).to_contain_text("denied: not before Friday")
    expect(steps.locator(".step.model").first).to_contain_text("out tokens")
    audit(page, "trace", screenshots)
    page.get_by_role("link", name="Write the report.").click()
    expect(page.get_by_label("Message")).to_be_enabled()

    # a file uploaded into the chat is listed there and in Artifacts, with its preview
    notes = tmp_path / "notes.txt"
    notes.write_text("The launch moved to Friday.\n")
    page.get_by_label("Upload a file").set_input_files(str(notes))
    page.get_by_role("list", name="Files").get_by_role("link", name="notes.txt").wait_for()
    audit(page, "chat", screenshots)
    # back to this chat from elsewhere: its history loaded and the composer usable
    chat_hash = page.evaluate("location.hash")
    page.get_by_role("link", name="Agents", exact=True).click()
    page.get_by_role("heading", name="Agents", exact=True).wait_for()
    started = time.monotonic()
    page.evaluate("hash => { location.hash = hash }", chat_hash)
    page.wait_for_function(
        "() => document.querySelectorAll('.chat .tool-call').length > 0"
        " && !document.querySelector('#message').disabled"
    )
    back_to_chat_ms = (time.monotonic() - started) * 1000
    page.get_by_role("link", name="Artifacts").click()
    page.get_by_role("link", name="notes.txt").click()
    page.get_by_label("Contents of notes.txt").filter(has_text="moved to Friday").wait_for()
    audit(page, "artifact", screenshots)

    page.get_by_role("link", name="Executions").click()
    page.locator("table tbody tr").first.wait_for()
    audit(page, "executions", screenshots)
    page.locator("table tbody tr a").first.click()
    page.get_by_role("heading", name="Steps").wait_for()
    audit(page, "execution", screenshots)

    page.get_by_role("link", name="API keys").click()
    page.get_by_role("heading", name="API keys").wait_for()  # not the last page's Name field
    page.get_by_label("Name").fill("ci")
    page.get_by_role("button", name="Create key").click()
    assert page.locator("code.secret").inner_text().startswith("ak_")
    page.get_by_role("button", name="Copy the key").click()
    expect(page.locator(".secret ~ button")).to_have_text("Copied")
    audit(page, "api-keys", screenshots)
    page.get_by_role("link", name="Credentials").click()
    # the API keys page has a Name field too: filled before the route changed, it was lost
    page.get_by_role("heading", name="Credentials").wait_for()
    page.get_by_label("Name").fill("docs-key")
    page.get_by_label("Value").fill("tok-ann")
    page.get_by_label("Sent only to hosts").fill("127.0.0.1")
    page.get_by_role("button", name="Save credential").click()
    page.get_by_role("button", name="Delete docs-key").wait_for()
    assert "tok-ann" not in page.content()  # a credential's value is never shown again
    audit(page, "credentials", screenshots)
    page.get_by_role("link", name="Usage").click()
    page.get_by_role("img", name=re.compile("Tokens per day")).wait_for()
    audit(page, "usage", screenshots)

    # an MCP server whose Authorization comes from that credential: its tools are listed
    page.get_by_role("link", name="Agents", exact=True).click()
    page.get_by_role("link", name="Analyst").click()
    page.get_by_role("button", name="Add an MCP server").click()
    server = page.get_by_role("group", name="MCP server 1")
    server.get_by_label("Name").fill("docs")
    server.get_by_label("URL").fill(mcp_server.url)
    server.get_by_label("Authorization from credential").select_option("docs-key")
    server.get_by_role("button", name="List its tools").click()
    server.get_by_role("status").filter(has_text="whoami").wait_for()
    page.get_by_role("button", name="Save as a new version").click()
    page.get_by_text("Saved as a new version.").wait_for()
    audit(page, "agent-mcp", screenshots)

    # publish the agent
    page.get_by_text("Publish to the marketplace").click()
    category = f"notes{uuid.uuid4().hex[:6]}"
    page.get_by_label("Category").fill(category)
    page.get_by_label("Summary").fill("Reads your notes and reports")
    page.get_by_role("button", name="Publish").click()
    page.get_by_role("button", name="Install").wait_for()
    expect(page.get_by_text(f"by {name}")).to_be_visible()  # the publisher, by name
    expect(page.get_by_text("Your listing: people who install it rate it.")).to_be_visible()
    audit(page, "listing", screenshots)
    # the listing keeps its snapshot; the agent itself goes back to its first version
    page.get_by_role("link", name="Agents", exact=True).click()
    page.get_by_role("link", name="Analyst").click()
    page.get_by_text("Versions").click()
    page.get_by_role("button", name="Roll back to v1.0.0").click()
    page.get_by_text("Rolled back to 1.0.0.").wait_for()
    expect(page.get_by_role("group", name="MCP server 1")).to_have_count(0)
    assert errors == []

    # another person, on a phone-sized screen, finds it, installs and rates it
    phone = browser.new_context(viewport={"width": 375, "height": 812}, bypass_csp=True)
    other = phone.new_page()
    register(other, console_url, f"bob{uuid.uuid4().hex[:6]}")
    assert other.evaluate("document.documentElement.scrollWidth") <= 375
    # the agent's MCP server takes its token from a credential named docs-key: the installer
    # needs one of their own by that name (the install says so otherwise)
    other.get_by_role("link", name="Credentials").click()
    other.get_by_role("heading", name="Credentials").wait_for()
    other.get_by_label("Name").fill("docs-key")
    other.get_by_label("Value").fill("tok-bob")
    other.get_by_label("Sent only to hosts").fill("127.0.0.1")
    other.get_by_role("button", name="Save credential").click()
    other.get_by_role("button", name="Delete docs-key").wait_for()
    other.get_by_role("link", name="Marketplace").click()
    other.get_by_label("Category").fill(category)
    other.get_by_role("button", name="Search").click()
    found = other.get_by_role("list", name="Listings").get_by_role("link")
    expect(found).to_have_count(1)  # this run's category only
    expect(other.get_by_role("list", name="Listings")).to_contain_text(f"by {name}")
    found.click()
    listing = other.evaluate("location.hash")
    other.get_by_text("Install it to rate it").wait_for()  # only those who installed it rate
    expect(other.get_by_role("button", name="Rate", exact=True)).to_have_count(0)
    other.get_by_role("button", name="Install").click()
    try:
        other.wait_for_function("location.hash.startsWith('#/agents/')", timeout=10_000)
    except Exception:
        raise AssertionError(other.get_by_role("alert").all_inner_texts()) from None
    other.get_by_role("heading", name="Analyst").wait_for()
    audit(other, "installed-agent-375px", screenshots)
    other.evaluate("hash => { location.hash = hash }", listing)  # in the page: tokens stay
    other.get_by_label("Score").select_option("4")
    other.get_by_role("button", name="Rate", exact=True).click()
    other.get_by_text("your rating is saved").wait_for()
    other.get_by_text("4.0 from 1 ratings").wait_for()
    assert other.evaluate("document.documentElement.scrollWidth") <= 375
    audit(other, "listing-rated-375px", screenshots)
    other.get_by_role("link", name="Marketplace").click()
    audit(other, "marketplace-375px", screenshots)

    REPORT.extend(
        [
            f"first page to an interactive sign-in form: {first_page_ms:.0f} ms",
            f"New chat to an interactive chat: {interactive_ms:.0f} ms",
            f"navigation back to a chat, its history shown and usable: {back_to_chat_ms:.0f} ms",
        ]
    )
    owner.close()
    phone.close()


def test_the_first_page_loads_at_most_200_kb_of_gzipped_script():
    dist = ROOT / "console" / "dist"
    page = (dist / "index.html").read_text()
    scripts = re.findall(r'src="/console/([^"]+\.js)"', page)
    assert scripts, page
    size = sum(len(gzip.compress((dist / s).read_bytes(), 9)) for s in scripts)
    REPORT.append(f"first page JS: {size / 1024:.1f} KB gzipped (limit 200 KB)")
    assert size <= 200 * 1024


def test_an_admin_sets_a_users_limits_from_the_users_page(
    browser, console_url, screenshots, database_url
):
    import requests
    import sqlalchemy as sa

    name = f"adm{uuid.uuid4().hex[:6]}"
    user = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert requests.post(f"{console_url}/auth/register", json=user, timeout=10).status_code == 201
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE users SET role = 'admin' WHERE username = :name"), {"name": name}
        )
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.goto(f"{console_url}/console")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Users").click()
    page.get_by_label("User", exact=True).select_option(label=name)
    page.get_by_label("Runs at once").fill("2")
    page.get_by_label("Tokens a day").fill("50000")
    page.get_by_role("button", name="Save limits").click()
    page.get_by_text("Limits saved.").wait_for()
    audit(page, "admin-users", screenshots)
    page.get_by_role("link", name="Usage").click()
    page.get_by_text("of 50000").wait_for()  # the admin's own limits, just set
    context.close()
    with engine.connect() as connection:
        limits = connection.execute(
            sa.text("SELECT limits FROM users WHERE username = :name"), {"name": name}
        ).scalar_one()
    engine.dispose()
    assert limits == {"max_concurrent_runs": 2, "daily_tokens": 50000}


def test_a_chat_decides_each_call_on_its_own_and_follows_the_run_across_approval_rounds(
    browser, console_url, screenshots, mcp_server
):
    """Two MCP tools that fail (so the model calls them again) and a file write, all asking
    first: round one approves both MCP calls and denies the write, each with its own reason;
    round two (the run asks again while the console follows it) approves one and denies the
    other; round three denies the last. Before that, a refused send and a dropped connection
    show their error in view and keep the typed message."""
    import requests

    name = f"apr{uuid.uuid4().hex[:6]}"
    user = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert requests.post(f"{console_url}/auth/register", json=user, timeout=10).status_code == 201
    login = {"username": name, "password": PASSWORD}
    token = requests.post(f"{console_url}/auth/login", json=login, timeout=10).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    failing = {"url": mcp_server.url, "tools": ["fail"], "requires_approval": True}
    agent = requests.post(
        f"{console_url}/agents",
        json={
            "name": "careful",
            "display_name": "Careful",
            "definition": {
                "model": {"provider": "test", "name": "test"},
                "system_prompt": "ask first",
                "tools": [{"name": "file_write", "requires_approval": True}],
                "mcp_servers": [{"name": "alpha", **failing}, {"name": "beta", **failing}],
            },
        },
        headers=headers,
        timeout=10,
    )
    assert agent.status_code == 201, agent.text
    session = requests.post(
        f"{console_url}/sessions",
        json={"agent_id": agent.json()["id"]},
        headers=headers,
        timeout=10,
    )
    assert session.status_code == 201, session.text

    context = browser.new_context(viewport={"width": 1280, "height": 640}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{console_url}/console")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Agents", exact=True).wait_for()
    page.evaluate("id => { location.hash = `#/sessions/${id}` }", session.json()["id"])
    composer = page.get_by_label("Message")
    page.wait_for_function("() => !document.querySelector('#message').disabled")

    # refused, then the network gone: the error in view, the message still typed
    messages = "**/sessions/*/messages"
    refused = {"error": {"code": "rate_limited", "message": "too many requests", "details": []}}
    page.route(messages, lambda route: route.fulfill(status=429, json=refused))
    composer.fill("Do the three things.")
    page.get_by_role("button", name="Send").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("too many requests")
    expect(alert).to_be_in_viewport()
    expect(composer).to_have_value("Do the three things.")
    page.unroute(messages)
    page.route(messages, lambda route: route.abort())
    page.get_by_role("button", name="Send").click()
    expect(alert).not_to_contain_text("too many requests")
    expect(alert).to_be_in_viewport()
    expect(composer).to_have_value("Do the three things.")
    page.unroute(messages)

    def box(tool: str) -> Any:
        return page.get_by_role("group", name=f"Approve {tool}?")

    failed_before = [c["tool"] for c in mcp_server.calls()].count("fail")
    page.get_by_role("button", name="Send").click()
    chat = page.get_by_role("list", name="Conversation")
    # round one: three calls, each decided on its own, sent together once all are decided
    for tool in ("alpha_fail", "beta_fail", "file_write"):
        box(tool).wait_for()
    audit(page, "chat-approvals", screenshots)
    expect(alert).to_have_count(0)
    box("file_write").get_by_label("Reason for file_write (optional)").fill("not this one")
    box("alpha_fail").get_by_label("Reason for alpha_fail (optional)").fill("go ahead")
    box("alpha_fail").get_by_role("button", name="Approve").click()
    expect(box("alpha_fail")).to_contain_text("You approve this call")
    expect(box("beta_fail").get_by_role("button", name="Approve")).to_be_enabled()
    expect(chat.locator(".approval").filter(has_text="Approved")).to_have_count(0)
    box("beta_fail").get_by_role("button", name="Approve").click()
    box("file_write").get_by_role("button", name="Deny").click()
    decided = chat.locator(".approval").filter(has_text=re.compile("Approved|Denied"))
    expect(decided).to_have_count(3)
    approved = chat.locator(".approval").filter(has_text="Approved")
    denied = chat.locator(".approval").filter(has_text="Denied")
    expect(approved.filter(has_text="go ahead")).to_have_count(1)
    expect(denied.filter(has_text="not this one")).to_have_count(1)
    expect(approved.filter(has_text="not this one")).to_have_count(0)
    # round two, while the console follows the resumed run: new buttons, usable at once
    approve_alpha = box("alpha_fail").get_by_role("button", name="Approve")
    expect(approve_alpha).to_be_enabled(timeout=20_000)
    expect(box("beta_fail").get_by_role("button", name="Deny")).to_be_enabled()
    expect(box("file_write")).to_have_count(0)
    box("beta_fail").get_by_label("Reason for beta_fail (optional)").fill("enough")
    approve_alpha.click()
    box("beta_fail").get_by_role("button", name="Deny").click()
    expect(decided).to_have_count(5)
    expect(denied.filter(has_text="enough")).to_have_count(1)
    # round three: the last failing call, denied; then the answer, in view
    deny_alpha = box("alpha_fail").get_by_role("button", name="Deny")
    expect(deny_alpha).to_be_enabled(timeout=20_000)
    deny_alpha.click()
    expect(decided).to_have_count(6)
    answer = chat.locator(".msg.agent").last
    answer.wait_for(timeout=20_000)
    expect(page.get_by_role("button", name="Send")).to_have_text("Send")
    expect(answer).to_be_in_viewport()
    expect(page.locator(".approval-box")).to_have_count(0)
    results = chat.locator(".tool-result")
    expect(results.filter(has_text="file_write").filter(has_text="denied")).to_have_count(1)
    expect(results.filter(has_text="beta_fail").filter(has_text="denied")).to_have_count(1)
    expect(results.filter(has_text="alpha_fail").filter(has_text="denied")).to_have_count(1)
    audit(page, "chat-after-rounds", screenshots)
    failed = [c["tool"] for c in mcp_server.calls()].count("fail") - failed_before
    assert failed == 3  # round one twice, round two once: only what was approved
    assert errors == []
    context.close()


def test_knowledge_bases_memories_and_the_sources_of_an_answer(
    browser, console_url, screenshots, tmp_path
):
    """A knowledge base made in the console: two files uploaded, one read and one failing with
    its reason, both followed to their end; a query shows ranked passages. An agent that
    searches it answers in a chat that lists the passages it was given; what the agent
    remembers about the person is listed, corrected and forgotten on the agent's page."""
    import requests

    name = f"kno{uuid.uuid4().hex[:6]}"
    user = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert requests.post(f"{console_url}/auth/register", json=user, timeout=10).status_code == 201
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{console_url}/console")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Knowledge").click()
    page.get_by_label("Name", exact=True).fill("handbook")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("heading", name="handbook").wait_for()

    policy = tmp_path / "refunds.md"
    policy.write_text("# Refunds\n\nRefunds are paid within 14 days of the return arriving.\n")
    broken = tmp_path / "scan.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really a pdf")
    page.get_by_label("Upload files").set_input_files([str(policy), str(broken)])
    rows = page.locator("table.documents tbody tr")
    rows.filter(has_text="refunds.md").locator(".doc-status.ready").wait_for(timeout=30_000)
    failed = rows.filter(has_text="scan.pdf")
    failed.locator(".doc-status.failed").wait_for(timeout=30_000)
    expect(failed).to_contain_text("the PDF cannot be read")
    page.get_by_label("Query").fill("when are refunds paid")
    page.get_by_role("button", name="Search").click()
    passages = page.get_by_role("list", name="Ranked passages")
    expect(passages.locator("li").first).to_contain_text("14 days")
    audit(page, "knowledge-base", screenshots)
    kb_id = page.locator("p.muted code").first.inner_text()

    login = {"username": name, "password": PASSWORD}
    token = requests.post(f"{console_url}/auth/login", json=login, timeout=10).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    agent = requests.post(
        f"{console_url}/agents",
        json={
            "name": "helpdesk",
            "display_name": "Helpdesk",
            "definition": {
                "model": {"provider": "test", "name": "test"},
                "knowledge": [{"knowledge_base_id": kb_id}],
                "memory": {"enabled": True},
            },
        },
        headers=headers,
        timeout=10,
    )
    assert agent.status_code == 201, agent.text
    page.goto(f"{console_url}/console#/agents/{agent.json()['id']}")
    page.get_by_role("button", name="New chat").click()
    page.get_by_label("Message").fill("When are refunds paid?")
    page.get_by_role("button", name="Send").click()
    sources = page.get_by_role("list", name="Passages the agent was given")
    sources.locator("summary").first.wait_for()
    expect(sources).to_contain_text("refunds.md")
    audit(page, "chat-sources", screenshots)

    page.get_by_role("link", name="The agent").click()
    page.get_by_text("What this agent remembers about you").click()
    page.get_by_label("Tell it something to remember").fill("Prefers answers in French.")
    page.get_by_role("button", name="Remember").click()
    mine = page.get_by_role("list", name="Your memories with this agent")
    expect(mine).to_contain_text("Prefers answers in French.")
    page.get_by_role("button", name="Edit: Prefers answers in French.").click()
    page.get_by_label("Memory", exact=True).fill("Prefers answers in Portuguese.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(mine).to_contain_text("Prefers answers in Portuguese.")
    audit(page, "agent-memories", screenshots)
    page.get_by_role("button", name="Forget: Prefers answers in Portuguese.").click()
    expect(mine).not_to_contain_text("Portuguese")
    context.close()
    assert errors == []
