"""An admin in a real browser (headless Chromium) reaches young people: creates a campaign, takes
its deep link, QR codes (decoded here from the downloaded PNG, the downloaded SVG and the printed
poster) and poster; a young person arrives by the link through the fake Bot API and the funnel
counts them; the admin links their own Telegram chat by a one-time link, writes a broadcast to
a segment, checks its audience, gets a test in their chat, sends it and watches it go out live,
then sends another and cancels it midway.

Everything runs through the real processes: the dashboard, the Telegram connector (polling a
fake Bot API that answers like Telegram's flood control: 30 messages a second, one a second per
chat), Rasa and the action server. The people a broadcast reaches are written straight to the
database (they agreed to be contacted; each has a chat the fake accepts messages to)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import png
import pytest
import zxingcpp
from playwright.sync_api import Page, expect

from bot.db.session import session_factory
from bot.languages import self_name
from bot.messages import text as message_text
from bot.services import campaigns, people
from connectors import processes
from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegramAPI
from tests.integration.conftest import (
    Connector,
    Dashboard,
    Stack,
    create_account,
    start_connector,
    start_dashboard,
)
from tests.integration.person import Person, buttons, text_of

pytestmark = pytest.mark.integration

ADMIN, PASSWORD = "rita", "reach admin 135"  # her display name is "Rita"
CAMPAIGN, PARTNER = "Browser reach: Liceo Galilei", "Browser reach partner"
BROADCAST_PEOPLE = 90  # reached by the first broadcast, half in English, half in Italian
CANCELLED_PEOPLE = 150  # reached by the second one, cancelled while it goes out
FIRST_CHAT, SECOND_CHAT = 9_400_001, 9_500_001  # their chat ids (nobody else's)
TEXTS = {
    "en": "New free IT courses start in March: have a look!",
    "it": "A marzo iniziano nuovi corsi di informatica gratuiti: dai un'occhiata!",
}
LABELS = {"en": "See the courses", "it": "Vedi i corsi"}
COURSES_URL = "https://example.org/courses"
CANCELLED_TEXT = "This one is cancelled while it goes out."
ROUND_ENV = {"ALERT_POLL_SECONDS": "0.5", "ALERT_QUIET_START": "0", "ALERT_QUIET_END": "0"}


@dataclass
class Story:
    """What one test leaves for the next."""

    code: str = ""
    link: str = ""
    admin_chat: Person | None = None
    timings: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


@pytest.fixture(scope="module")
def fake_telegram() -> Iterator[FakeTelegramAPI]:
    """The fake Bot API with Telegram's flood control on (30 a second, 1 a second per chat)."""
    with FakeTelegramAPI(rate_limit=30) as api:
        yield api


@pytest.fixture(scope="module")
def connector(stack: Stack, fake_telegram: FakeTelegramAPI) -> Iterator[Connector]:
    """The connector, its paced rounds every half second and no quiet hours. Started before
    the dashboard pages are read: it stores the bot's username (getMe) for the links."""
    running = start_connector(stack, fake_telegram, "telegram-reach-browser", **ROUND_ENV)
    try:
        fake_telegram.wait_for(lambda: fake_telegram.calls_to("getUpdates"), timeout=60)
        database = session_factory(stack.settings.database_url)

        def username_stored() -> bool:
            with database.begin() as session:
                return campaigns.bot_username(session) == BOT_USERNAME

        fake_telegram.wait_for(username_stored, timeout=30)
    except BaseException:
        processes.stop(running.process)
        raise
    yield running
    processes.stop(running.process)


@pytest.fixture(scope="module")
def dashboard(stack: Stack, fake_telegram: FakeTelegramAPI) -> Iterator[Dashboard]:
    create_account(stack, ADMIN, "admin", PASSWORD)
    running = start_dashboard(stack, fake_telegram, "dashboard-reach-browser")
    yield running
    processes.stop(running.process)


def sign_in(page: Page, dashboard: Dashboard, target: str) -> None:
    page.goto(dashboard.url + target)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page).to_have_url(re.compile(re.escape(target) + "$"))


def qr_codes(image: bytes) -> list[str]:
    """The texts of the QR codes in a PNG (any bit depth, grey or colour)."""
    width, height, rows, info = png.Reader(bytes=image).asDirect()
    planes, top = info["planes"], 2 ** info["bitdepth"] - 1
    pixels = np.vstack([np.asarray(row, dtype=np.uint32) for row in rows])
    pixels = pixels.reshape(height, width, planes) * 255 // top
    grey = pixels[..., 0] if info["greyscale"] else pixels[..., :3].mean(axis=2)
    return [found.text for found in zxingcpp.read_barcodes(grey.astype(np.uint8))]


def download(page: Page, link: Any) -> tuple[str, bytes]:
    """Click a download link; the file's suggested name and its content."""
    with page.expect_download() as info:
        link.click()
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


def funnel_row(page: Page, table: str, label: str) -> dict[str, str]:
    """The funnel's counts in one row of `table` (#funnel or #funnel-partners)."""
    row = page.locator(f"{table} tbody tr").filter(
        has=page.locator("th", has_text=re.compile(f"^{re.escape(label)}$"))
    )
    expect(row).to_have_count(1)
    return {
        str(cell.get_attribute("data-step")): cell.inner_text()
        for cell in row.locator("td[data-step]").all()
    }


def seed(stack: Stack, first_chat: int, count: int, languages: tuple[str, ...]) -> int:
    """`count` people who agreed to be contacted, registered today, with a chat each, in a
    campaign of their own (the broadcast's segment); the campaign's id."""
    database = session_factory(stack.settings.database_url)
    with database.begin() as session:
        campaign = campaigns.create(
            session, name=f"Broadcast audience {first_chat}", partner="Browser seed",
            venue="other", language="en", starts_on=None, ends_on=None, by="test",
        )  # fmt: skip
        moment = people.now()
        for number in range(count):
            chat, language = first_chat + number, languages[number % len(languages)]
            person = people.give_consent(session, f"reach-browser-{chat}", language=language)
            person.language, person.country, person.registered_at = language, "IT", moment
            person.followup_consent, person.telegram_chat_id = True, chat
            person.campaign_id = campaign.id
    return campaign.id


def delivered(api: FakeTelegramAPI, chats: range, text: str | None = None) -> Counter[int]:
    """How many messages each of `chats` got (with this text, if given)."""
    return Counter(
        message["chat_id"]
        for message in api.sent_messages()
        if message.get("chat_id") in chats and (text is None or message.get("text") == text)
    )


def attempts(api: FakeTelegramAPI, chats: range) -> int:
    """Every sendMessage to `chats` that reached the fake, answered or refused."""
    return sum(1 for call in api.calls_to("sendMessage") if call.params.get("chat_id") in chats)


def counts_on(page: Page) -> dict[str, str]:
    """The broadcast page's live figures as shown, and whether it is still the same page."""
    return page.evaluate(
        """() => {
            const shown = {};
            for (const id of ["status", "sent", "blocked", "failed", "queued", "cancelled"]) {
                shown[id] = document.getElementById(id).textContent.trim();
            }
            const bar = document.getElementById("progress");
            shown.bar = bar.value + "/" + bar.max;
            shown.marker = String(window.reachMarker || "");
            return shown;
        }"""
    )


def test_a_campaign_has_a_deep_link_qr_codes_and_a_poster(
    page: Page, connector: Connector, dashboard: Dashboard, story: Story
) -> None:
    began = time.monotonic()
    sign_in(page, dashboard, "/admin/campaigns")
    form = page.locator("#new-campaign")
    form.get_by_label("Name").fill(CAMPAIGN)
    form.get_by_label("Partner organisation").fill(PARTNER)
    form.get_by_label("Where it runs").select_option("school")
    form.get_by_label("Language of the poster").select_option("it")
    today = dt.date.today()
    form.get_by_label("From").fill((today - dt.timedelta(days=1)).isoformat())
    form.get_by_label("Until").fill((today + dt.timedelta(days=30)).isoformat())
    form.get_by_role("button", name="Create the campaign").click()
    expect(page.locator(".flash").first).to_contain_text(f"Created the campaign '{CAMPAIGN}'")

    row = page.locator("#campaigns tbody tr").filter(has_text=CAMPAIGN)
    expect(row).to_have_count(1)
    expect(row).to_contain_text(PARTNER)
    expect(row).to_contain_text("School")
    expect(row).not_to_contain_text("not running")
    story.code = code = str(row.get_attribute("data-code"))
    assert re.fullmatch(r"browser-reach-liceo-[0-9a-f]{6}", code), code
    story.link = link = row.locator("code.deep-link").inner_text().strip()
    assert link == f"https://t.me/{BOT_USERNAME}?start={code}"

    name, image = download(page, row.get_by_role("link", name=re.compile(r"QR code \(PNG\)")))
    assert name == f"qr-{code}.png"
    assert image.startswith(b"\x89PNG")
    assert qr_codes(image) == [link], "the downloaded PNG's QR code is not the campaign's link"

    name, svg = download(page, row.get_by_role("link", name=re.compile(r"QR code \(SVG\)")))
    assert name == f"qr-{code}.svg"
    drawing = svg.decode()
    assert "<svg" in drawing and CAMPAIGN in drawing
    shown = page.context.new_page()
    shown.set_content(f"<body style='margin:0;background:#fff'>{drawing.split('?>', 1)[-1]}")
    assert qr_codes(shown.locator("svg").screenshot()) == [link], "the SVG's QR code differs"
    shown.close()

    with page.context.expect_page() as opened:
        row.get_by_role("link", name=re.compile(r"^Poster")).click()
    poster = opened.value
    poster.wait_for_load_state()
    expect(poster.locator("html")).to_have_attribute("lang", "it")
    expect(poster.locator("h1")).to_have_text(message_text("poster.title", "it"))
    expect(poster.locator("p.link")).to_contain_text(link)
    expect(poster.locator("footer")).to_have_text(PARTNER)
    assert qr_codes(poster.locator(".qr").screenshot()) == [link], "the poster's QR code differs"
    story.timings["campaign"] = time.monotonic() - began


def test_a_young_person_arrives_by_the_link_and_the_funnel_counts_them(
    page: Page,
    connector: Connector,
    dashboard: Dashboard,
    fake_telegram: FakeTelegramAPI,
    story: Story,
) -> None:
    assert story.code, "the test before this one creates the campaign"
    began = time.monotonic()
    young = Person(fake_telegram, first_name="Sara")
    replies = young.say("/start " + story.link.rsplit("=", 1)[1], replies=2)
    accept = message_text("consent_accept_button", "en")
    assert accept in buttons(replies), text_of(replies)

    sign_in(page, dashboard, "/figures")
    section = page.locator("h2#campaigns")
    expect(section).to_have_text("Campaigns: the funnel")
    counts = funnel_row(page, "#funnel", CAMPAIGN)
    assert (counts["started"], counts["agreed"], counts["registered"]) == ("1", "0", "0")

    replies = young.tap(replies, accept, replies=2)
    assert message_text("consent_thanks", "en") in text_of(replies)
    page.reload()
    counts = funnel_row(page, "#funnel", CAMPAIGN)
    assert (counts["started"], counts["agreed"], counts["registered"]) == ("1", "1", "0")
    partner = funnel_row(page, "#funnel-partners", PARTNER)
    assert (partner["started"], partner["agreed"]) == ("1", "1")
    chart = page.locator("#chart-funnel svg")
    expect(chart).to_be_visible()
    expect(chart).to_contain_text(PARTNER)

    name, content = download(page, page.get_by_role("link", name="Download the funnel (CSV)"))
    assert name.startswith("funnel-") and name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    (mine,) = [row for row in rows if row["level"] == "campaign" and row["name"] == CAMPAIGN]
    assert (mine["partner"], mine["started"], mine["agreed"]) == (PARTNER, "1", "1")
    story.timings["funnel"] = time.monotonic() - began


def test_an_admin_links_her_telegram_tests_a_broadcast_and_watches_it_go_out(
    page: Page,
    stack: Stack,
    connector: Connector,
    dashboard: Dashboard,
    fake_telegram: FakeTelegramAPI,
    story: Story,
) -> None:
    began = time.monotonic()
    sign_in(page, dashboard, "/admin/broadcasts")
    staff = page.locator("#telegram-link #staff-link")
    link = str(staff.get_attribute("href"))
    assert re.fullmatch(rf"https://t\.me/{BOT_USERNAME}\?start=staff-\d+-[0-9a-f]{{20}}", link)
    expect(staff).to_have_text(link)
    story.admin_chat = own = Person(fake_telegram, first_name="Rita")
    answer = text_of(own.say("/start " + link.rsplit("=", 1)[1]))
    assert answer.startswith("✅ Linked to the dashboard account of Rita"), answer
    campaign_id = seed(stack, FIRST_CHAT, BROADCAST_PEOPLE, ("en", "it"))
    chats = range(FIRST_CHAT, FIRST_CHAT + BROADCAST_PEOPLE)
    page.reload()  # the link is used, and the segment's campaign is in the form
    expect(page.locator("#telegram-link")).to_contain_text("Your Telegram chat is linked")

    form = page.locator("#new-broadcast")
    form.locator("input[name=title]").fill("Spring IT courses")
    for code in TEXTS:
        form.locator(f"input[name=languages][value={code}]").check()
    form.locator("select[name=registered]").select_option("yes")
    form.locator("select[name=campaign_id]").select_option(str(campaign_id))
    yesterday = dt.date.today() - dt.timedelta(days=1)
    form.locator("input[name=registered_since]").fill(yesterday.isoformat())
    for code, words in TEXTS.items():
        form.locator(f"textarea[name=text_{code}]").fill(words)
        form.locator(f"input[name=button1_label_{code}]").fill(LABELS[code])
    form.locator("input[name=button1_url]").fill(COURSES_URL)
    form.get_by_role("button", name="Check the audience").click()
    audience = page.locator("#audience")
    half = BROADCAST_PEOPLE // 2
    expect(audience).to_contain_text(f"This segment reaches {BROADCAST_PEOPLE} people")
    expect(audience).to_contain_text(f"{self_name('en')} {half}")
    expect(audience).to_contain_text(f"{self_name('it')} {half}")
    # What was typed is still there: save it as it is.
    expect(form.locator("textarea[name=text_it]")).to_have_value(TEXTS["it"])
    expect(form.locator("select[name=campaign_id]")).to_have_value(str(campaign_id))
    form.get_by_role("button", name="Save as a draft").click()
    expect(page).to_have_url(re.compile(r"/admin/broadcasts/\d+$"))
    expect(page.locator(".flash").first).to_contain_text(f"It reaches {BROADCAST_PEOPLE} people")
    expect(page.locator("#status")).to_have_text("draft")
    expect(page.locator("#audience-size")).to_have_text(str(BROADCAST_PEOPLE))

    seen = len(own.seen())
    page.locator("select[name=language]").select_option("it")
    page.get_by_role("button", name="Send me a test").click()
    expect(page.locator(".flash").first).to_contain_text("Test queued")
    fake_telegram.wait_for_messages(own.user_id, seen + 1, timeout=20)
    (test,) = own.seen()[seen:]
    assert test["text"] == TEXTS["it"]
    assert test["reply_markup"]["inline_keyboard"] == [[{"text": LABELS["it"], "url": COURSES_URL}]]
    assert not delivered(fake_telegram, chats), "the test went to the audience"

    limited = len(fake_telegram.rate_limited)
    page.get_by_role("button", name=f"Send now to {BROADCAST_PEOPLE} people").click()
    expect(page.locator(".flash").first).to_contain_text("Sending now.")
    page.evaluate("window.reachMarker = 'same page'")
    sending = time.monotonic()
    observed = [counts_on(page)]
    while observed[-1]["status"] != "done" and time.monotonic() - sending < 60:
        time.sleep(0.1)
        if counts_on(page) != observed[-1]:
            observed.append(counts_on(page))
    took = time.monotonic() - sending
    final = observed[-1]
    assert final["marker"] == "same page", "the page was reloaded"
    assert final["status"] == "done", observed
    assert (final["sent"], final["queued"], final["blocked"], final["failed"]) == (
        str(BROADCAST_PEOPLE), "0", "0", "0")  # fmt: skip
    assert final["cancelled"] == "0"
    assert final["bar"] == f"{BROADCAST_PEOPLE}/{BROADCAST_PEOPLE}"
    midway = [item for item in observed if 0 < int(item["sent"]) < BROADCAST_PEOPLE]
    assert midway, f"the counts never changed while it went out: {observed}"
    assert "sending" in {item["status"] for item in observed}, observed

    per_chat = delivered(fake_telegram, chats)
    assert set(per_chat) == set(chats), "somebody in the segment got nothing"
    assert max(per_chat.values()) == 1, "somebody got the broadcast twice"
    for offset, code in enumerate(("en", "it")):
        assert delivered(fake_telegram, chats[offset::2], TEXTS[code]).total() == half
    assert len(own.seen()) == seen + 1, "the broadcast went to the admin's own chat too"
    story.timings["broadcast"] = time.monotonic() - began
    print(
        f"\nbroadcast to {BROADCAST_PEOPLE}: {took:.1f} s, "
        f"{len(fake_telegram.rate_limited) - limited} answered 429, "
        f"{len(observed)} states seen: {[(item['status'], item['sent']) for item in observed]}"
    )


def test_a_broadcast_cancelled_while_it_goes_out_sends_nothing_more(
    page: Page,
    stack: Stack,
    connector: Connector,
    dashboard: Dashboard,
    fake_telegram: FakeTelegramAPI,
    story: Story,
) -> None:
    began = time.monotonic()
    campaign_id = seed(stack, SECOND_CHAT, CANCELLED_PEOPLE, ("en",))
    chats = range(SECOND_CHAT, SECOND_CHAT + CANCELLED_PEOPLE)
    sign_in(page, dashboard, "/admin/broadcasts")
    form = page.locator("#new-broadcast")
    form.locator("input[name=title]").fill("To be cancelled")
    form.locator("select[name=campaign_id]").select_option(str(campaign_id))
    form.locator("textarea[name=text_en]").fill(CANCELLED_TEXT)
    form.get_by_role("button", name="Save as a draft").click()
    expect(page.locator("#audience-size")).to_have_text(str(CANCELLED_PEOPLE))

    page.get_by_role("button", name=f"Send now to {CANCELLED_PEOPLE} people").click()
    expect(page.locator(".flash").first).to_contain_text("Sending now.")
    fake_telegram.wait_for(lambda: delivered(fake_telegram, chats).total() >= 5, timeout=30)
    page.get_by_role("button", name="Cancel this broadcast").click()
    expect(page.locator(".flash").first).to_contain_text("Cancelled:")
    at_cancel = delivered(fake_telegram, chats).total()
    after_page = attempts(fake_telegram, chats)
    expect(page.locator("#status")).to_have_text("cancelled")
    left = int(re.findall(r"\d+", page.locator(".flash").first.inner_text())[0])
    shown_at_cancel = counts_on(page)
    time.sleep(2.5)  # five rounds of the connector
    later = attempts(fake_telegram, chats)
    per_chat = delivered(fake_telegram, chats, CANCELLED_TEXT)
    page.reload()
    final = counts_on(page)
    story.timings["cancel"] = time.monotonic() - began
    print(
        f"\ncancelled broadcast to {CANCELLED_PEOPLE}: {at_cancel} delivered at the cancel, "
        f"{after_page} requests when its page showed, {later} 2.5 s later; "
        f"{left} not to be sent; at the end {final}; timings {story.timings}"
    )
    assert max(per_chat.values()) == 1, "somebody got the broadcast twice"
    assert later == after_page, (
        f"{later - after_page} messages of the cancelled broadcast reached Telegram after the "
        f"cancel had been confirmed ({left} of {CANCELLED_PEOPLE} said not to be sent; "
        f"{per_chat.total()} arrived in all; the page at the cancel: {shown_at_cancel})"
    )
    assert final["status"] == "cancelled"
    assert int(final["cancelled"]) > 0
    assert int(final["sent"]) == per_chat.total(), "the page's sent count is not what arrived"
    assert int(final["sent"]) + int(final["cancelled"]) == CANCELLED_PEOPLE, final
