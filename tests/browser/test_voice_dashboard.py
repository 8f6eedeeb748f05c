"""A voice campaign in a real browser: create it with the voice fields of the form (a
bad value is shown on the form first), paste numbers, start it, and watch its page
follow the calls without reloading while the test runs them on a virtual clock (the
voice rig of tests/voice_driver.py, in this process, against the server's database):
counters, outcomes, the recall queue and recent calls fill in, numbers added while it
runs are called too, and the campaign ends DONE with nothing left to offer.

The server here runs no dispatcher of its own, so the rig is the only one placing calls.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, expect
from tests.browser.conftest import Server, serve
from tests.browser.test_dashboard import sign_in
from tests.voice_driver import VoiceRig, drive, voice_rig

from clarion.clock import utcnow
from clarion.config import Settings
from clarion.store.db import Database

T = TypeVar("T")
FIRST, LATER = 12, 3


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+4917{n:08d}" for n in range(start, start + count)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The browser tests' server, without a dispatcher (the rig places the calls)."""
    yield from serve(tmp_path_factory, name="voice-browser", run_dispatcher=False)


class Calls:
    """A voice rig on its own event loop thread (Playwright's sync API owns this one)."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="voice-rig", daemon=True)
        self.thread.start()
        self.db = self.run(self._open(settings.database_url))
        self.rig: VoiceRig = voice_rig(settings, self.db, start=utcnow(), answer=0.45)

    @staticmethod
    async def _open(url: str) -> Database:
        return Database(url)

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=120)

    async def _for(self, seconds: float) -> None:
        """Dispatcher passes and 5-second clock steps for ``seconds`` of virtual time."""
        end = self.rig.clock.now() + timedelta(seconds=seconds)
        for _ in range(10_000):
            if self.rig.clock.now() >= end:
                return
            busy, _wait = await self.rig.dispatcher.tick()
            if not busy:
                self.rig.clock.advance(5.0)
        raise AssertionError("the dispatcher never went idle")

    def run_for(self, seconds: float) -> None:
        self.run(self._for(seconds))

    def until(self, campaign_id: int, status: str) -> str:
        return self.run(drive(self.rig, campaign_id, until={status}, idle_step=60.0))

    def close(self) -> None:
        self.run(self.db.dispose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def calls(server: Server) -> Iterator[Calls]:
    rig = Calls(server.settings)
    try:
        yield rig
    finally:
        rig.close()


def count(page: Page, field: str) -> int:
    text = page.locator(f'.counters [data-field="{field}"]').inner_text()
    return int(text.replace(",", ""))


def test_voice_campaign_in_the_browser(
    page: Page, server: Server, calls: Calls, shots: Path
) -> None:
    sign_in(page, server)
    page.get_by_role("link", name="New campaign").first.click()

    # --- the form shows the voice fields for the voice channel -------------------------
    page.get_by_label("Name", exact=True).fill("Clinic reminders")
    page.get_by_label("Channel").select_option("voice")
    expect(page.get_by_role("group", name="Voice only: calls")).to_be_visible()
    expect(page.get_by_label("Message text")).to_be_hidden()
    expect(page.locator("#preview")).to_be_hidden()
    page.get_by_label("Call text").fill("Hello, this is the clinic: your appointment is tomorrow.")
    page.get_by_label("Caller ID").fill("+4930123456")
    page.get_by_label("Concurrent calls").fill("5000")
    page.get_by_label("Ring timeout (seconds)").fill("20")
    page.get_by_label("Recalls after the first call").fill("1")
    page.get_by_label("Wait before a recall", exact=True).fill("10")
    page.get_by_label("Invalid number").check()
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("alert")).to_contain_text("Concurrent calls: must be at most 1000")
    concurrent = page.get_by_label("Concurrent calls")
    expect(concurrent).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Call text")).to_be_visible()  # still the voice form, as typed
    expect(page.get_by_label("Invalid number")).to_be_checked()
    page.screenshot(path=str(shots / "voice-new-campaign.png"), full_page=True)
    concurrent.fill("3")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("status").first).to_contain_text("Add numbers, then start it")

    # --- numbers pasted on the numbers page ---------------------------------------------
    expect(page.get_by_role("heading", name="Numbers", exact=True)).to_be_visible()
    expect(page.get_by_label("CSV, XLS or XLSX file")).to_have_count(0)
    page.get_by_label("Phone numbers, one per line").fill("\n".join(numbers(FIRST)))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Numbers added.")
    page.get_by_role("link", name="Go to campaign").click()
    campaign_id = int(page.url.rstrip("/").split("/")[-1])

    actions = page.locator(".action-bar")
    start = actions.get_by_role("button", name="Start")
    pause = actions.get_by_role("button", name="Pause")
    resume = actions.get_by_role("button", name="Resume")
    stop = actions.get_by_role("button", name="Stop")
    expect(actions.get_by_role("button", name="Retry failed")).to_be_hidden()
    expect(page.locator(".empty-note").filter(has_text="No call has ended yet.")).to_be_visible()
    expect(page.locator('.counters [data-field="voice_recipients"]')).to_have_text(str(FIRST))
    expect(page.locator('.counters [data-field="voice_waiting"]')).to_have_text(str(FIRST))
    expect(page.get_by_text("Europe/Berlin").first).to_be_visible()
    start.click()
    expect(page.get_by_role("status").first).to_contain_text("calls are being placed")
    expect(start).to_be_disabled()
    expect(pause).to_be_enabled()
    expect(resume).to_be_disabled()

    # --- calls on the virtual clock; the page follows without a reload -----------------
    calls.run_for(150)
    attempts = page.locator('.counters [data-field="voice_attempts"]')
    expect(attempts).not_to_have_text("0")
    expect(page.locator('tbody[data-voice="calls"] tr').first).to_be_visible()
    expect(page.locator(".empty-note").filter(has_text="No call has ended yet.")).to_be_hidden()
    expect(page.locator('[data-field="voice_lines"]')).to_have_text(re.compile(r"^\d of 3$"))
    answered = page.locator('tr[data-outcome="answered"] [data-count]')
    expect(answered).to_have_text(re.compile(r"^\d+$"))

    # Pause and resume from the keyboard: calls in progress finish, no new one starts.
    pause.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("no new call starts")
    expect(resume).to_be_enabled()
    resume.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").first).to_contain_text("Campaign resumed")

    # Numbers can be added while the campaign runs.
    page.get_by_role("link", name="Numbers", exact=True).click()
    expect(page.get_by_label("Phone numbers, one per line")).to_be_visible()
    page.get_by_label("Phone numbers, one per line").fill("\n".join(numbers(LATER, start=500)))
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Numbers added.")
    page.get_by_role("link", name="Go to campaign").click()
    expect(page.locator('.counters [data-field="voice_recipients"]')).to_have_text(
        str(FIRST + LATER)
    )
    calls.run_for(60)
    expect(page.locator('tbody[data-voice="recall_queue"] tr').first).to_be_visible()
    page.screenshot(path=str(shots / "voice-campaign.png"), full_page=True)

    # --- to the end: every number answered or unreached, nothing left to offer ---------
    assert calls.until(campaign_id, "DONE") == "DONE"
    badge = page.locator('[data-field="status_badge"] .badge')
    expect(badge).to_have_text("DONE", timeout=30_000)
    expect(page.locator('.counters [data-field="voice_waiting"]')).to_have_text("0")
    expect(page.locator('.counters [data-field="voice_in_progress"]')).to_have_text("0")
    assert count(page, "voice_answered") + count(page, "voice_unreached") == FIRST + LATER
    assert count(page, "voice_attempts") > FIRST + LATER  # some numbers were recalled
    expect(page.locator("#campaign-progress")).to_have_js_property("value", 100)
    expect(page.locator(".empty-note").filter(has_text="No number is waiting")).to_be_visible()
    for button in (start, pause, resume, stop):
        expect(button).to_be_disabled()

    # The list shows the voice campaign, its channel and progress.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    row = page.locator(f'tr[data-campaign-id="{campaign_id}"]')
    expect(row).to_contain_text("VOICE")
    expect(row).to_contain_text("answered")
    expect(row).to_contain_text(f"{FIRST + LATER} / {FIRST + LATER} finished")

    # Phone width: the tables scroll in their own regions, the page does not.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server.url}/ui/campaigns/{campaign_id}")
    expect(page.get_by_role("region", name="Table of recent calls")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the voice page is {overflow}px wider than a phone screen"
