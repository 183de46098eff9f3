"""The console's first load as a person on a slow machine meets it: Chromium with its CPU slowed
`--cpu` times (DevTools' throttling), from navigation to an interactive sign-in form (the
Username field there and enabled), the median of `--runs` cold loads (a new browser context
each: nothing cached); with the script's gzipped size as served.

    .venv/bin/python bench/console_load.py --url http://127.0.0.1:8080 [--runs 7] [--cpu 4]

Compare two builds by pointing it at two servers (e.g. `make dev` of two checkouts)."""

from __future__ import annotations

import argparse
import gzip
import statistics
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cpu", type=float, default=4)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    samples: list[float] = []
    scripts: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for _ in range(args.runs + 1):  # the first warms the server, not counted
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": args.cpu})
            page.on(
                "response",
                lambda r: scripts.append(r.url) if r.url.endswith(".js") else None,
            )
            started = time.perf_counter()
            page.goto(f"{args.url}/console")
            page.wait_for_function(
                "() => { const f = document.getElementById('username'); return f && !f.disabled }"
            )
            samples.append((time.perf_counter() - started) * 1000)
            context.close()
        browser.close()
    samples = samples[1:]
    sizes = {}
    for url in set(scripts):
        with urllib.request.urlopen(url, timeout=10) as answer:
            sizes[url.rsplit("/", 1)[-1]] = len(gzip.compress(answer.read(), 9))
    print(
        f"{args.url}: interactive sign-in at {args.cpu:g}x CPU slowdown: median "
        f"{statistics.median(samples):.0f} ms (min {min(samples):.0f}, max {max(samples):.0f}, "
        f"{len(samples)} cold loads); script gzipped: "
        + ", ".join(f"{name} {size / 1024:.1f} KB" for name, size in sorted(sizes.items()))
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
