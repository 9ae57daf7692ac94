"""Make the screenshots of docs/ui.md: real runs, the real dashboard, a real browser.

    python docs/make_screenshots.py            # writes docs/images/ui-*.png

It writes an example flow file into a temporary LOCKGATE_HOME, runs it a few times
(one run fails in a mapped child and waits for an approval), starts ``lockgate ui`` on a
free loopback port, and photographs each page with Debian's ``chromium`` driven by
Playwright (``apt-get install chromium``; ``pip install playwright``). The demo runs'
times are moved back over the past week afterwards, so the chart of runs per day has
more than one bar; nothing else is changed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

IMAGES = Path(__file__).resolve().parent / "images"

ORDERS = """
import os

import lockgate
from lockgate import Flow, Parameter, task, triggers


@task
def fetch(day):
    lockgate.context.logger.info("fetching orders of %s", day)
    return [{"id": i, "amount": 10 * i} for i in range(1, 6)]


@task
def price(order):
    if order["id"] == 4 and os.environ.get("CURRENCY_DOWN"):
        lockgate.context.logger.warning("currency service did not answer")
        raise ConnectionError("currency service unavailable")
    return order["amount"] * 1.2


@task
def total(prices):
    return round(sum(prices), 2)


@task(trigger=triggers.manual_only)
def publish(amount):
    return f"published {amount}"


with Flow("orders") as flow:
    day = Parameter("day", default="2026-01-01")
    publish(total(price.map(fetch(day))))
"""

REPORT = """
import lockgate
from lockgate import Flow, task


@task
def load():
    return list(range(100))


@task
def summarize(rows):
    lockgate.context.logger.info("%d rows", len(rows))
    return {"rows": len(rows), "sum": sum(rows)}


with Flow("daily-report") as flow:
    summarize(load())
"""


def record_runs(home: Path, url: str) -> dict[str, str]:
    """Run the example flows into the store; return the ids worth photographing."""
    from lockgate import runs
    from lockgate.store import RunStore

    (home / "orders.py").write_text(textwrap.dedent(ORDERS))
    (home / "report.py").write_text(textwrap.dedent(REPORT))
    ids: dict[str, str] = {}
    with RunStore.open(url, home=home) as store:
        for _ in range(9):
            ids["report"], _ = runs.run_file(str(home / "report.py"), store=store)
        for day in ("2026-02-27", "2026-02-28"):
            runs.run_file(str(home / "orders.py"), {"day": day}, store=store)
            ids["resumed"] = runs.list_runs(flow="orders", limit=1, store=store)[0].id
            runs.resume(ids["resumed"], store=store)
        os.environ["CURRENCY_DOWN"] = "1"
        try:
            ids["orders"], _ = runs.run_file(
                str(home / "orders.py"), {"day": "2026-03-01"}, store=store
            )
        finally:
            del os.environ["CURRENCY_DOWN"]
        spread_over_the_week(store, keep=ids["orders"])
    return ids


def spread_over_the_week(store: object, keep: str) -> None:
    """Move the demo runs' times back by 0-6 days (all but ``keep``), for the chart."""
    import sqlalchemy as sa

    from lockgate.store import schema

    fr = schema.flow_runs
    engine = store.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        rows = conn.execute(sa.select(fr.c.id).where(fr.c.id != keep).order_by(fr.c.created)).all()
        for i, (run_id,) in enumerate(rows):
            shift = (6 - i * 7 // max(1, len(rows))) * 86_400.0
            conn.execute(
                fr.update()
                .where(fr.c.id == run_id)
                .values(
                    created=fr.c.created - shift,
                    start_time=fr.c.start_time - shift,
                    end_time=fr.c.end_time - shift,
                )
            )


def start_dashboard(home: Path, url: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "LOCKGATE_HOME": str(home)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from lockgate.cli import main; main()",
            "ui",
            "--port",
            "0",
            "--store",
            url,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not found:
        proc.kill()
        raise SystemExit(f"lockgate ui did not start: {line!r}")
    return proc, found.group(0)


def photograph(base: str, ids: dict[str, str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian's chromium is needed: apt-get install chromium")
    IMAGES.mkdir(exist_ok=True)
    orders = ids["orders"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium)
        page = browser.new_page(viewport={"width": 1200, "height": 760})

        def shot(name: str, full: bool = False) -> None:
            page.screenshot(path=str(IMAGES / f"ui-{name}.png"), full_page=full)
            print(f"wrote docs/images/ui-{name}.png")

        page.goto(base)
        shot("runs")
        page.goto(f"{base}runs/{orders}")
        page.locator('g.node[data-task="price-1"]').click()  # opens the children list
        expect(page.locator("#children-price-1")).to_have_attribute("open", "")
        shot("run", full=True)
        page.goto(f"{base}runs/{orders}/tasks/price-1?child=3")
        shot("task", full=True)
        page.goto(f"{base}flows")
        shot("flows")
        page.goto(f"{base}runs/{orders}/restart")
        shot("confirm")
        page.locator("#confirm").click()
        expect(page.locator("#job")).to_have_attribute("data-done", "yes")
        expect(page.locator('g.node[data-task="total-1"]')).to_have_attribute(
            "data-state", "Success"
        )
        shot("restarted", full=True)
        page.goto(f"{base}runs/0123abcd")
        shot("404")
        browser.close()


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="lockgate-screenshots-"))
    url = f"sqlite:///{home}/store.db"
    try:
        ids = record_runs(home, url)
        proc, base = start_dashboard(home, url)
        try:
            photograph(base, ids)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
