"""The dashboard in a real browser (Debian's chromium through Playwright) against a
real server: sign in, create a campaign with a live SMS preview, upload a CSV and
watch the import's progress bar complete, start, pause, resume, watch the counters
reach DONE, retry the failed messages; actions the status does not allow are not
offered. Screenshots of the main pages are saved along the way."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect
from tests.browser.conftest import Server

RECIPIENTS = 30
BAD_ROWS = ["not-a-number", "+1 (555)"]


def write_list(path: Path) -> Path:
    numbers = [f"+7701{n:07d}" for n in range(1000, 1000 + RECIPIENTS)]
    path.write_text("\n".join([*numbers[:10], BAD_ROWS[0], *numbers[10:], BAD_ROWS[1]]) + "\n")
    return path


def counter(page: Page, field: str) -> int:
    text = page.locator(f'.counters [data-field="{field}"]').inner_text()
    return int(text.replace(",", ""))


def sign_in(page: Page, server: Server) -> None:
    page.goto(server.url + "/")
    # The key field has focus on arrival: the form is usable from the keyboard alone.
    expect(page.locator("#api_key")).to_be_focused()
    page.keyboard.type(server.key)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/ui/campaigns$"))


def test_campaign_life_in_the_browser(
    page: Page, server: Server, shots: Path, tmp_path: Path
) -> None:
    page.goto(server.url + "/ui/campaigns")
    expect(page).to_have_url(re.compile(r"/\?next=/ui/campaigns$"))  # no session yet
    expect(page.get_by_label("API key")).to_be_visible()
    page.screenshot(path=str(shots / "sign-in.png"))
    page.get_by_label("API key").fill("z" * 40)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    sign_in(page, server)
    expect(page.get_by_text("No campaigns yet.")).to_be_visible()

    # --- create, with the live preview ---------------------------------------------
    page.get_by_role("link", name="New campaign").first.click()
    page.get_by_label("Name", exact=True).fill("Spring sale")
    page.get_by_label("Sender name").fill("Acme")
    text = page.get_by_label("Message text")
    text.fill("Spring sale: 20% off everything until Sunday. Show this SMS at the till.")
    preview = page.locator("#preview")
    expect(preview.locator('[data-preview="encoding"]')).to_have_text("GSM-7")
    expect(preview.locator('[data-preview="segments"]')).to_have_text("1")
    expect(preview.locator('[data-preview="price"]')).to_have_text("0.05 USD")
    text.press_sequentially(" Ждём!")  # Cyrillic switches the whole text to UCS-2
    expect(preview.locator('[data-preview="encoding"]')).to_have_text("UCS-2 (Unicode)")
    expect(preview.locator('[data-preview="segments"]')).to_have_text("2")
    expect(preview.locator('[data-preview="price"]')).to_have_text("0.10 USD")
    page.screenshot(path=str(shots / "new-campaign.png"), full_page=True)
    text.fill("Spring sale: 20% off everything until Sunday. Show this SMS at the till.")
    expect(preview.locator('[data-preview="segments"]')).to_have_text("1")
    page.get_by_label("Rate: messages").fill("10")
    page.get_by_label("per seconds").fill("2")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_role("status").first).to_contain_text("Campaign created")

    # --- import a CSV: the progress bar follows the background task -------------------
    page.get_by_label("CSV, XLS or XLSX file").set_input_files(str(write_list(tmp_path / "l.csv")))
    page.get_by_role("button", name="Upload and import").click()
    expect(page).to_have_url(re.compile(r"/recipients\?task=\d+$"))
    progress = page.locator("#import-progress")
    expect(progress).to_have_js_property("value", 100)
    expect(page.locator('[data-task="status"]')).to_have_text("DONE")
    expect(page.locator('[data-task="added"]')).to_have_text(str(RECIPIENTS))
    expect(page.locator('[data-task="rejected"]')).to_have_text(str(len(BAD_ROWS)))
    report_link = page.get_by_role("link", name="Download rejected rows (CSV)")
    expect(report_link).to_be_visible()
    with page.expect_download() as download:
        report_link.click()
    report = Path(download.value.path()).read_text()
    assert report.splitlines()[0] == "row,value,code,reason"
    assert all(bad in report for bad in BAD_ROWS)
    page.screenshot(path=str(shots / "import.png"), full_page=True)

    # --- the campaign: only the actions its status allows are offered -----------------
    page.get_by_role("link", name="Go to campaign").click()
    actions = page.locator(".action-bar")
    start = actions.get_by_role("button", name="Start")
    pause = actions.get_by_role("button", name="Pause")
    resume = actions.get_by_role("button", name="Resume")
    retry = actions.get_by_role("button", name="Retry failed")
    expect(start).to_be_enabled()
    for not_offered in (pause, resume, retry):
        expect(not_offered).to_be_disabled()
    expect(page.locator("#why-pause")).to_contain_text("only when the campaign is RUNNING")
    expect(actions.get_by_role("button", name="Renew (after top-up)")).to_be_hidden()
    expect(page.locator('.counters [data-field="pending"]')).to_have_text(str(RECIPIENTS))

    start.click()
    expect(page.get_by_role("status").first).to_contain_text("Campaign started")
    expect(start).to_be_disabled()
    pause.click()
    expect(page.get_by_role("status").first).to_contain_text("Campaign paused")
    badge = page.locator('[data-field="status_badge"] .badge')
    expect(badge).to_contain_text("PAUSED")
    expect(resume).to_be_enabled()
    expect(pause).to_be_disabled()
    page.screenshot(path=str(shots / "campaign-paused.png"), full_page=True)
    resume.click()
    expect(page.get_by_role("status").first).to_contain_text("Campaign resumed")

    # --- live counters (polled, no reload) until every message is final ---------------
    expect(badge).to_have_text("DONE", timeout=40_000)
    expect(page.locator("#campaign-progress")).to_have_js_property("value", 100)
    delivered, failed = counter(page, "delivered"), counter(page, "failed")
    assert delivered + failed == RECIPIENTS
    assert failed > 0  # the simulated carrier (seeded) fails about 30%
    expect(page.locator("#timeline svg rect.bar-good").first).to_be_attached()
    expect(retry).to_be_enabled()
    expect(start).to_be_disabled()
    page.screenshot(path=str(shots / "campaign-done.png"), full_page=True)

    retry.click()
    expect(page.get_by_role("status").first).to_contain_text("Failed messages were queued")
    expect(badge).to_have_text("DONE", timeout=40_000)
    expect(page.locator(".events")).to_contain_text("retry")
    assert counter(page, "delivered") > delivered
    assert counter(page, "delivered") + counter(page, "failed") == RECIPIENTS

    # --- messages: search by status and phone -----------------------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Messages").click()
    page.get_by_label("Status").select_option("DELIVERED")
    page.get_by_label("Phone contains").fill("77010001005")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.messages tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("+77010001005")
    page.get_by_label("Phone contains").fill("")
    page.get_by_role("button", name="Search").click()
    page.screenshot(path=str(shots / "messages.png"), full_page=True)

    # --- campaigns list and account -----------------------------------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    row = page.locator("table.campaigns tbody tr").first
    expect(row).to_contain_text("Spring sale")
    expect(row).to_contain_text("DONE")
    page.screenshot(path=str(shots / "campaigns.png"), full_page=True)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    expect(page.locator("table.ledger")).to_contain_text("charge")
    page.screenshot(path=str(shots / "account.png"), full_page=True)
    page.get_by_label("Label of a new key").fill("crm export")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_have_value(re.compile(r"^[a-z0-9]{40}$"))


def test_phone_width_and_keyboard(page: Page, server: Server, shots: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, server)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.goto(server.url + "/ui/campaigns/new")
    page.get_by_label("Message text").fill("Hi {name}, your code is {code}")
    page.get_by_label("Type").select_option("template")
    expect(page.locator('[data-preview="placeholders"]')).to_contain_text("{code}, {name}")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    page.screenshot(path=str(shots / "new-campaign-phone.png"), full_page=True)
