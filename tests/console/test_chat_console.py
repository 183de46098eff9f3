"""The chat as people use it, in a real browser, with the offline `test-echo` model (it streams
the message back a word at a time): markdown with highlighted code and a copy button (model
output never becomes HTML), Enter and Shift+Enter, each answer's tokens, cost and time, Stop
while the answer streams, Regenerate, the list of chats across agents (titled by the first
message, searched, renamed, archived, deleted), the shortcuts under `?`, and dark mode, each
page checked by axe in light and dark."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests
from playwright.sync_api import expect

from tests.console.test_console_flow import PASSWORD, audit

MARKDOWN = """## Release plan

- **Friday**: ship it
- `make test` first

```python
def ship(day):  # the day it goes out
    return "shipped on " + day
```

<script>window.hacked = 1</script><img src=x onerror="window.hacked = 2">"""


def signed_in(browser: Any, console_url: str, **context: Any) -> tuple[Any, Any, dict[str, str]]:
    name = f"cht{uuid.uuid4().hex[:6]}"
    user = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert requests.post(f"{console_url}/auth/register", json=user, timeout=10).status_code == 201
    login = {"username": name, "password": PASSWORD}
    token = requests.post(f"{console_url}/auth/login", json=login, timeout=10).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    ctx = browser.new_context(bypass_csp=True, **context)
    page = ctx.new_page()
    page.goto(f"{console_url}/console")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Agents", exact=True).wait_for()
    return ctx, page, headers


def echo_agent(console_url: str, headers: dict[str, str], name: str = "echo") -> str:
    made = requests.post(
        f"{console_url}/agents",
        json={
            "name": name,
            "display_name": name.title(),
            "definition": {"model": {"provider": "test", "name": "test-echo"}},
        },
        headers=headers,
        timeout=10,
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_markdown_answers_stop_regenerate_and_per_answer_usage(browser, console_url, screenshots):
    ctx, page, headers = signed_in(
        browser,
        console_url,
        viewport={"width": 1280, "height": 900},
        permissions=["clipboard-read", "clipboard-write"],
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    agent_id = echo_agent(console_url, headers)
    page.goto(f"{console_url}/console#/agents/{agent_id}")
    page.get_by_role("button", name="New chat").click()
    box = page.get_by_label("Message")
    expect(box).to_be_focused()

    # Shift+Enter is a new line, Enter sends; the answer is markdown, its code highlighted
    box.type("## Release plan")
    box.press("Shift+Enter")
    box.press("Shift+Enter")
    box.type("- **Friday**: ship it")
    expect(box).to_have_value("## Release plan\n\n- **Friday**: ship it")
    box.fill(MARKDOWN)
    box.press("Enter")
    chat = page.get_by_role("list", name="Conversation")
    answer = chat.locator(".msg.agent").last
    expect(answer.get_by_role("heading", name="Release plan")).to_be_visible(timeout=20_000)
    expect(answer.locator("li strong")).to_have_text("Friday")
    code = answer.locator(".code-block pre")
    expect(code).to_contain_text('return "shipped on " + day')
    expect(code.locator(".tok-keyword").first).to_have_text("def")
    expect(code.locator(".tok-comment")).to_have_text("# the day it goes out")
    # what the model wrote as markup is shown as text, and nothing of it ran
    expect(answer).to_contain_text("<script>window.hacked = 1</script>")
    assert answer.locator("script, img").count() == 0
    assert page.evaluate("window.hacked") is None
    # your own message keeps its line breaks
    expect(chat.locator(".msg.user .said").last).to_contain_text("- **Friday**: ship it")
    assert "\n" in chat.locator(".msg.user .said").last.inner_text()
    expect(box).to_be_focused()  # it stayed in the box through the answer
    answer.get_by_role("button", name="Copy python").click()
    expect(answer.locator(".code-head button")).to_contain_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == 'def ship(day):  # the day it goes out\n    return "shipped on " + day'
    # the answer's tokens, cost and time
    expect(answer.locator(".turn-stats")).to_contain_text("tokens in", timeout=10_000)
    expect(answer.locator(".turn-stats")).to_contain_text("cost unknown")  # no price: test model
    audit(page, "chat-markdown", screenshots)

    # Regenerate sends the last message again, and a new answer comes
    answers = chat.locator(".msg.agent").count()
    page.get_by_role("button", name="Regenerate").click()
    expect(chat.locator(".msg.agent")).to_have_count(answers + 1, timeout=20_000)
    expect(page.get_by_role("button", name="Send")).to_be_visible(timeout=20_000)

    # Stop while the answer streams: the run ends cancelled within a couple of seconds
    box.fill("word " * 400)  # ~8 s of streaming
    box.press("Enter")
    chat.locator(".msg.agent.live").wait_for(timeout=10_000)
    expect(page.get_by_role("status")).to_contain_text("working")
    stopped_at = time.monotonic()
    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("button", name="Send")).to_be_visible(timeout=5_000)
    assert time.monotonic() - stopped_at < 4
    expect(chat.locator(".turn-stats").last).to_contain_text("cancelled")
    runs = requests.get(f"{console_url}/executions", headers=headers, timeout=10).json()["items"]
    assert runs[0]["status"] == "cancelled"
    assert errors == []
    ctx.close()


def test_chats_across_agents_are_titled_searched_renamed_archived_and_deleted(
    browser, console_url, screenshots
):
    ctx, page, headers = signed_in(browser, console_url, viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    first = echo_agent(console_url, headers, "planner")
    second = echo_agent(console_url, headers, "writer")
    for agent_id, message in ((first, "Plan the Friday launch"), (second, "Draft the press note")):
        session = requests.post(
            f"{console_url}/sessions", json={"agent_id": agent_id}, headers=headers, timeout=10
        ).json()
        said = requests.post(
            f"{console_url}/sessions/{session['id']}/messages",
            json={"content": message},
            headers=headers,
            timeout=20,
        )
        assert said.status_code == 200, said.text

    page.get_by_role("link", name="Chats").click()
    chats = page.get_by_role("list", name="Chats")
    expect(chats.get_by_role("link")).to_have_count(2)
    expect(chats).to_contain_text("Plan the Friday launch")
    expect(chats).to_contain_text("Planner")  # the agent by name, not its id
    expect(chats).to_contain_text("Writer")
    audit(page, "chats", screenshots)

    # `/` goes to the search; it finds by title
    page.locator("body").press("/")
    search = page.get_by_label("Search chats")
    expect(search).to_be_focused()
    search.type("press")
    expect(chats.get_by_role("link")).to_have_count(1)
    expect(chats).to_contain_text("Draft the press note")
    search.fill("")

    # renamed; archived (gone from the list, found under Archived); deleted
    page.get_by_role("button", name="Rename Plan the Friday launch").click()
    page.get_by_label("New title").fill("Launch")
    page.get_by_label("New title").press("Enter")
    expect(chats.get_by_role("link", name="Launch")).to_be_visible()
    page.get_by_role("button", name="Archive Launch").click()
    expect(chats.get_by_role("link")).to_have_count(1)
    page.get_by_label("Archived").check()
    expect(chats.get_by_role("link", name="Launch")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete Launch").click()
    expect(chats.get_by_role("link")).to_have_count(0)
    sessions = requests.get(f"{console_url}/sessions", headers=headers, timeout=10).json()
    assert [s["title"] for s in sessions["items"]] == ["Draft the press note"]

    # a chat shows the others beside it; `?` lists the shortcuts
    page.get_by_label("Archived").uncheck()
    chats.get_by_role("link", name="Draft the press note").click()
    page.get_by_role("heading", name="Draft the press note").wait_for()
    side = page.get_by_role("complementary", name="Your chats")
    expect(side.get_by_role("link", name="Draft the press note")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_label("Message")).to_be_focused()  # a chat opens ready to type
    page.evaluate("document.activeElement.blur()")  # `?` in the box is a question mark
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_contain_text("Shift + Enter")
    dialog.press("Escape")
    expect(dialog).to_be_hidden()

    # a reload keeps you signed in (the refresh token is an HttpOnly cookie no script reads);
    # signing out ends it
    page.reload()
    page.get_by_role("heading", name="Draft the press note").wait_for()
    assert "agents_refresh" not in page.evaluate("document.cookie")
    cookies = {c["name"]: c for c in ctx.cookies()}
    assert cookies["agents_refresh"]["httpOnly"] is True
    assert cookies["agents_refresh"]["sameSite"] == "Strict"
    assert cookies["agents_refresh"]["path"] == "/auth/console"
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").wait_for()
    assert "agents_refresh" not in {c["name"] for c in ctx.cookies()}
    page.reload()
    page.get_by_label("Username").wait_for()
    assert errors == []
    ctx.close()


def test_dark_mode_and_a_phone_screen_pass_axe(browser, console_url, screenshots):
    ctx, page, headers = signed_in(
        browser, console_url, viewport={"width": 390, "height": 844}, color_scheme="dark"
    )
    agent_id = echo_agent(console_url, headers)
    session = requests.post(
        f"{console_url}/sessions", json={"agent_id": agent_id}, headers=headers, timeout=10
    ).json()
    said = requests.post(
        f"{console_url}/sessions/{session['id']}/messages",
        json={"content": MARKDOWN},
        headers=headers,
        timeout=20,
    )
    assert said.status_code == 200
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(13, 17, 23)", background
    audit(page, "dark-agents", screenshots)
    page.goto(f"{console_url}/console#/sessions/{session['id']}")
    page.locator(".code-block").wait_for()
    audit(page, "dark-chat-390", screenshots)
    page.goto(f"{console_url}/console#/sessions")
    page.get_by_role("list", name="Chats").get_by_role("link").first.wait_for()
    audit(page, "dark-chats-390", screenshots)
    page.goto(f"{console_url}/console#/executions/{said.json()['id']}")
    page.get_by_role("list", name="Steps").locator(".step.model").first.wait_for()
    audit(page, "dark-trace-390", screenshots)
    for path, name in (("knowledge", "dark-knowledge"), ("marketplace", "dark-marketplace"),
                       ("keys", "dark-keys"), ("usage", "dark-usage")):  # fmt: skip
        page.goto(f"{console_url}/console#/{path}")
        page.get_by_role("heading", level=1).wait_for()
        audit(page, name, screenshots)
    ctx.close()


def test_forms_check_by_the_apis_rules_and_show_only_what_a_person_may_do(
    browser, console_url, screenshots
):
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900},
        bypass_csp=True,
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{console_url}/console")
    page.get_by_role("button", name="Register").click()
    # checked before sending, in plain words, the first wrong field in view with the cursor
    expect(page.get_by_text("at least 8 characters")).to_be_visible()
    page.get_by_label("Username").fill("a b")
    page.get_by_label("Email").fill("nobody")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Username: letters, digits, _ . and - only.")).to_be_visible()
    expect(page.get_by_text("Email: an email address, like name@example.com.")).to_be_visible()
    expect(page.get_by_text("Password needs at least 8 characters.")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_focused()
    audit(page, "register-errors", screenshots)
    name = f"frm{uuid.uuid4().hex[:6]}"
    page.get_by_label("Username").fill(name)
    page.get_by_label("Email").fill(f"{name}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Agents", exact=True).wait_for()

    # a new agent: its name checked the same way; a provider this deployment cannot call warned
    page.get_by_role("link", name="New agent").click()
    page.get_by_label("Name", exact=True).fill("-bad name")
    page.get_by_label("Provider", exact=True).select_option("google-vertex")
    expect(page.get_by_text("google-vertex is not configured on this deployment")).to_be_visible()
    page.get_by_label("Provider", exact=True).select_option("test")
    expect(page.get_by_text("is not configured on this deployment")).to_have_count(0)
    page.get_by_role("button", name="Create agent").click()
    expect(page.get_by_text("Name: letters, digits, _ . and -, starting with")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    audit(page, "new-agent-errors", screenshots)
    page.get_by_label("Name", exact=True).fill("mine")
    page.get_by_role("button", name="Create agent").click()
    page.get_by_role("heading", name="mine").wait_for()

    # where other clients reach it, each address copied with one click
    page.get_by_text("Use it from other clients").click()
    expect(page.get_by_text(f"{console_url}/mcp", exact=True)).to_be_visible()
    expect(page.get_by_text("/.well-known/agent-card.json")).to_be_visible()
    page.get_by_role("button", name="Copy OpenAI base URL").click()
    expect(page.get_by_role("button", name="Copied OpenAI base URL")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == f"{console_url}/v1"
    audit(page, "agent-endpoints", screenshots)

    # shared by username; the list says who by name
    friend = f"frd{uuid.uuid4().hex[:6]}"
    user = {"username": friend, "email": f"{friend}@example.com", "password": PASSWORD}
    assert requests.post(f"{console_url}/auth/register", json=user, timeout=10).status_code == 201
    page.get_by_text("Sharing").click()
    page.get_by_label("Username", exact=True).fill("nobody-at-all")
    page.get_by_role("button", name="Share").click()
    expect(page.get_by_role("alert")).to_contain_text("Nobody is called “nobody-at-all” here.")
    page.get_by_label("Username", exact=True).fill(friend)
    page.get_by_label("Level").select_option("read")
    page.get_by_role("button", name="Share").click()
    expect(page.get_by_role("list", name="Shared with")).to_contain_text(f"{friend}: read")
    audit(page, "agent-shared", screenshots)

    # the built-in Assistant: no edit form that would fail, no sharing, no publishing
    page.get_by_role("link", name="Agents", exact=True).click()
    page.get_by_role("link", name="Assistant").first.click()
    page.get_by_role("heading", name="Assistant").wait_for()
    expect(page.get_by_text("Built in: it changes with the service.")).to_be_visible()
    expect(page.get_by_role("button", name="Save as a new version")).to_have_count(0)
    expect(page.get_by_text("Sharing")).to_have_count(0)
    expect(page.get_by_text("Publish to the marketplace")).to_have_count(0)
    assert errors == []
    ctx.close()
