"""A coach in a real browser (headless Chromium): sign in, filter, read a transcript, tag it,
take over a waiting chat and reply into Telegram (the fake Bot API), hand back, and read the
figures. The young person is simulated on the fake Bot API, through the real connector, Rasa
and the action server."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bot.messages import text as message_text
from bot.pseudonym import pseudonym
from connectors import processes
from tests.integration.browser.conftest import axe_problems, overflow_at_phone_width
from tests.integration.conftest import (
    Connector,
    Dashboard,
    Stack,
    create_account,
    start_connector,
    start_dashboard,
)
from tests.integration.person import Person, text_of

pytestmark = pytest.mark.integration

PASSWORD = "browser coach 456"


@pytest.fixture(scope="module")
def connector(stack: Stack, fake_telegram) -> Iterator[Connector]:
    # No quiet hours, and a short round: a plan's reminders go out within a second or two.
    quiet_off = {"ALERT_QUIET_START": "0", "ALERT_QUIET_END": "0", "ALERT_POLL_SECONDS": "1"}
    running = start_connector(stack, fake_telegram, "telegram-browser", **quiet_off)
    fake_telegram.wait_for(lambda: fake_telegram.calls_to("getUpdates"), timeout=30)
    yield running
    processes.stop(running.process)


@pytest.fixture(scope="module")
def dashboard(stack: Stack, fake_telegram) -> Iterator[Dashboard]:
    create_account(stack, "maria", "coach", PASSWORD)
    running = start_dashboard(stack, fake_telegram, "dashboard-browser")
    yield running
    processes.stop(running.process)


def sign_in(page: Page, dashboard: Dashboard, target: str = "/conversations") -> None:
    page.goto(dashboard.url + target)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def sender_id(chat: Person) -> str:
    return pseudonym("test-secret-key-0123456789abcdefghij", "tg", chat.user_id)


def short_name(chat: Person) -> str:
    return "anon-" + pseudonym("test-secret-key-0123456789abcdefghij", "tg", chat.user_id)[:8]


def test_find_a_failed_conversation_read_it_and_tag_it(
    page: Page, connector: Connector, dashboard: Dashboard, fake_telegram
) -> None:
    chat = Person(fake_telegram)
    chat.say("any IT courses in Zagreb?")
    chat.say("zxq vbnm plork wug")
    sign_in(page, dashboard)

    page.get_by_label("Not understood").select_option("yes")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"fallback=yes"))
    page.get_by_role("link", name=short_name(chat)).click()

    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("zxq vbnm plork wug")
    # Nonsense is not understood: unsure (nlu_fallback) or the NLU's nonsense class
    expect(transcript).to_contain_text(re.compile(r"nlu_fallback|out_of_scope"))
    expect(transcript).to_contain_text("ask_trainings")
    page.get_by_label("New tag").fill("Needs examples")
    page.get_by_role("button", name="Add tag").click()
    expect(page.locator(".tags")).to_contain_text("needs examples")

    page.goto(dashboard.url + "/conversations?tag=needs+examples")
    rows = page.locator("table.conversations tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(short_name(chat))


def test_take_over_a_waiting_chat_reply_into_telegram_and_hand_back(
    page: Page, connector: Connector, dashboard: Dashboard, fake_telegram
) -> None:
    chat = Person(fake_telegram)
    chat.say("/coach")
    sign_in(page, dashboard)
    waiting = page.locator(".waiting")
    expect(waiting).to_contain_text(short_name(chat))
    waiting.locator(f"tr:has-text('{short_name(chat)}')").get_by_role("button", name="Take").click()
    expect(page.locator("h1")).to_have_text(short_name(chat))
    fake_telegram.wait_for(lambda: "has joined the chat" in text_of(chat.seen()), timeout=15)

    page.get_by_label("Your message").fill("Hello from Maria 👋 How can I help?")
    page.get_by_role("button", name="Send").click()
    # Back at the reply box, under the newest message, which says it was sent
    expect(page).to_have_url(re.compile(r"sent=1#reply$"))
    expect(page.locator("#reply").get_by_role("status")).to_contain_text("Sent")
    expect(page.locator("#reply")).to_be_in_viewport()
    fake_telegram.wait_for(
        lambda: "Hello from Maria 👋 How can I help?" in text_of(chat.seen()), timeout=15
    )
    # A new message of the person appears in the open page by itself.
    fake_telegram.push_update(fake_telegram.make_text_update(chat.user_id, "I need a job in IT"))
    expect(page.locator("#transcript")).to_contain_text("I need a job in IT", timeout=20_000)

    before = len(chat.seen())
    page.get_by_text("Hand back to the assistant…").click()  # asks first
    page.get_by_role("button", name="Hand back to the assistant").click()
    expect(page.get_by_role("status").first).to_contain_text("Handed back")
    fake_telegram.wait_for(
        lambda: message_text("handoff_ended", "en") in text_of(chat.seen()[before:]), timeout=15
    )


def test_figures_page_draws_its_charts_and_exports_kpis(
    page: Page, connector: Connector, dashboard: Dashboard, fake_telegram
) -> None:
    Person(fake_telegram).say("any jobs in spain?")
    sign_in(page, dashboard, "/figures")
    charts = page.locator("figure.chart svg")
    expect(charts).to_have_count(6)
    assert charts.first.bounding_box()["height"] > 100  # type: ignore[index]
    reached = int(page.locator("#kpi-reached").inner_text())
    assert reached >= 1
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the KPI export (CSV)").click()
    content = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(content)))
    values = {(metric, breakdown): value for metric, breakdown, value in rows[1:]}
    assert int(values[("people_reached", "")]) == reached


def sign_in_as(page: Page, dashboard: Dashboard, username: str) -> None:
    page.goto(dashboard.url + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def cover_languages(page: Page, dashboard: Dashboard, *languages: str) -> None:
    page.goto(dashboard.url + "/account")
    for language in languages:
        page.get_by_label(language).check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved.")


def test_the_queue_updates_itself_and_an_italian_request_goes_to_the_italian_coach(
    browser, stack: Stack, connector: Connector, dashboard: Dashboard, fake_telegram
) -> None:
    for name in ("giulia", "ivana"):
        create_account(stack, name, "coach", PASSWORD)
    giulia = browser.new_context().new_page()
    ivana = browser.new_context().new_page()
    sign_in_as(giulia, dashboard, "giulia")
    cover_languages(giulia, dashboard, "Italiano")
    giulia.goto(dashboard.url + "/replies")
    giulia.get_by_label("Language").select_option(label="Italiano")
    giulia.get_by_label("Shortcut").fill("benvenuto")
    giulia.get_by_label("Reply", exact=True).fill("Ciao {name}, sono {coach}: come posso aiutarti?")
    giulia.get_by_role("button", name="Save the reply").click()
    expect(giulia.get_by_role("status").first).to_contain_text("type /benvenuto in a reply")
    sign_in_as(ivana, dashboard, "ivana")
    cover_languages(ivana, dashboard, "Hrvatski")
    for page in (giulia, ivana):
        page.goto(dashboard.url + "/conversations")
        expect(page.locator("#queue")).to_contain_text("Nobody is waiting for you")

    giulia.wait_for_timeout(6_000)  # a full poll: the count of what already waits
    count = giulia.locator("#queue-count")
    before = 0 if count.is_hidden() else int(count.inner_text())
    chat = Person(fake_telegram, language_code="it", first_name="Marco")
    chat.say("ciao, cerco lavoro come cuoco a Napoli")
    chat.say("/coach")
    # Giulia's open page shows it by itself (no reload): the row, the title, the link's count
    row = giulia.locator("#queue tr", has_text=short_name(chat))
    expect(row).to_contain_text("cerco lavoro come cuoco a Napoli", timeout=15_000)
    expect(row).to_contain_text("it")
    expect(row).to_contain_text(re.compile(r"\d+ min"))
    expect(giulia).to_have_title(re.compile(rf"^\({before + 1}\) "))
    expect(count).to_have_text(str(before + 1))
    # Ivana covers Croatian: not hers, but she sees it among all of them
    ivana.wait_for_timeout(6_000)  # a full poll later
    expect(ivana.locator("#queue")).to_contain_text("Nobody is waiting for you")
    expect(ivana.get_by_role("link", name=re.compile(r"^All \(\d+\)"))).to_be_visible()
    ivana.get_by_role("link", name=re.compile(r"^All \(")).click()
    expect(ivana.locator("#queue")).to_contain_text(short_name(chat))

    # Giulia takes it, then passes it to Ivana with a note; it waits for Ivana
    row.get_by_role("button", name=f"Take the conversation with {short_name(chat)}").click()
    expect(giulia.locator("h1")).to_have_text(short_name(chat))
    # A saved reply in Italian: "/benv" and Tab, filled in for this person
    box = giulia.get_by_label("Your message")
    box.fill("/benv")
    box.press("Tab")
    expect(box).to_have_value("Ciao, sono Giulia: come posso aiutarti?")
    giulia.get_by_role("button", name="Send").click()
    fake_telegram.wait_for(
        lambda: "Ciao, sono Giulia: come posso aiutarti?" in text_of(chat.seen()), timeout=15
    )
    # Buttons to tap and an opportunity card: the tap comes back into her open transcript
    box.fill("Ti interessa questo corso?")
    giulia.get_by_text("Add buttons or an opportunity card").click()
    giulia.get_by_label("Buttons the person can tap").fill("Sì | No")
    card = giulia.get_by_label("Opportunity card")
    card.select_option(index=1)
    title = card.locator("option:checked").inner_text().split(" — ")[0]
    giulia.get_by_role("button", name="Send").click()
    fake_telegram.wait_for(lambda: title in text_of(chat.seen()), timeout=15)
    asked = [m for m in chat.seen() if m.get("text") == "Ti interessa questo corso?"]
    assert [b["text"] for b in asked[0]["reply_markup"]["inline_keyboard"][0]] == ["Sì", "No"]
    chat.tap(asked, "Sì", replies=0)
    expect(giulia.locator(".entry.user .bubble.tap").last).to_contain_text("Sì", timeout=15_000)
    giulia.get_by_label("Pass to").select_option(label="Ivana (hr)")
    giulia.get_by_label("Note for them").fill("parla anche croato")
    giulia.get_by_role("button", name="Pass the conversation").click()
    expect(giulia.get_by_role("status").first).to_contain_text("Passed to Ivana.")
    ivana.goto(dashboard.url + "/conversations?view=mine")
    mine = ivana.locator("#queue tr", has_text=short_name(chat))
    expect(mine).to_contain_text("parla anche croato")
    mine.get_by_role("button", name=re.compile("Take the conversation")).click()
    fake_telegram.wait_for(lambda: "Ivana" in text_of(chat.seen()), timeout=15)
    ivana.get_by_text("Hand back to the assistant…").click()
    ivana.get_by_role("button", name="Hand back to the assistant").click()
    expect(ivana.get_by_role("status").first).to_contain_text("Handed back")
    for page in (giulia, ivana):
        page.context.close()


def test_a_coach_writes_a_plan_proposes_an_appointment_and_the_young_person_answers_in_telegram(
    browser, stack: Stack, connector: Connector, dashboard: Dashboard, fake_telegram
) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from bot.db.session import session_factory
    from bot.services import people
    from bot.services.plans import day_words

    chat = Person(fake_telegram, language_code="it", first_name="Lucia")
    with session_factory(stack.settings.database_url).begin() as session:
        person = people.give_consent(session, sender_id(chat), language="it")
        people.save_profile(
            session, sender_id(chat),
            people.Profile(name="Lucia", age=20, place="Napoli", country="IT", language="it"),
        )  # fmt: skip
        person.telegram_chat_id = chat.user_id
        person_id = person.id
    page = browser.new_context().new_page()
    sign_in(page, dashboard, f"/people/{person_id}")
    rome = dt.datetime.now(ZoneInfo("Europe/Rome"))
    # A step due tomorrow: its last reminder is due at once
    page.get_by_label("Step", exact=True).fill("Manda il CV al centro giovani")
    page.get_by_label("Due").fill((rome.date() + dt.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Add the step").click()
    expect(page.get_by_role("status").first).to_contain_text("Step added.")
    expect(page.locator("#plan-progress")).to_contain_text("0 of 1 steps done.")
    # An appointment in 90 minutes, in the person's time (Rome)
    starts = rome + dt.timedelta(minutes=90)
    page.get_by_label("Day", exact=True).fill(starts.date().isoformat())
    page.get_by_label("Time (Europe/Rome)").fill(starts.strftime("%H:%M"))
    page.get_by_label("Where").fill("Centro giovani, Via Toledo 10")
    page.get_by_role("button", name="Propose the appointment").click()
    expect(page.get_by_role("status").first).to_contain_text("Appointment proposed.")
    # Lucia gets the proposal in Italian, with the coach's display name, and confirms it
    fake_telegram.wait_for(lambda: "Via Toledo 10" in text_of(chat.seen()), timeout=20)
    proposal = [m for m in chat.seen() if "Via Toledo 10" in m.get("text", "")]
    assert starts.strftime("%H:%M") in proposal[0]["text"]
    confirmed = chat.tap(proposal, message_text("appointment.confirm_button", "it"))
    assert "Via Toledo 10" in text_of(confirmed) and "✅" in text_of(confirmed)
    # Both reminders arrive: the step's (due tomorrow) and the appointment's (in two hours)
    tomorrow = day_words(rome.date() + dt.timedelta(days=1), "it")
    step_reminder = message_text(
        "plan.reminder_day", "it", text="Manda il CV al centro giovani", due=tomorrow
    )
    soon = message_text(
        "appointment.reminder_soon", "it", coach="Maria", time=starts.strftime("%H:%M"),
        where="Centro giovani, Via Toledo 10",
    )  # fmt: skip
    fake_telegram.wait_for(
        lambda: step_reminder in text_of(chat.seen()) and soon in text_of(chat.seen()), timeout=30
    )
    # /plan shows the step with its button; a tap ticks it off, and the coach sees it
    shown = chat.say("/plan")
    assert "Manda il CV al centro giovani" in text_of(shown)
    assert message_text("appointment.status.confirmed", "it") in text_of(shown)
    ticked = chat.tap(shown, "✅")
    assert text_of(ticked) == message_text(
        "plan.ticked", "it", text="Manda il CV al centro giovani"
    )
    page.reload()
    expect(page.locator("#plan-progress")).to_contain_text("1 of 1 steps done.")
    expect(page.locator("tr.step")).to_contain_text("by the young person")
    expect(page.locator("li.appointment")).to_contain_text("confirmed")
    page.context.close()


COACH_PAGES = ("/conversations", "/people", "/figures", "/account", "/replies")
ADMIN_PAGES = (
    "/admin/intents", "/admin/responses", "/admin/messages", "/admin/topics",
    "/admin/catalogue", "/admin/catalogue/new", "/admin/campaigns", "/admin/broadcasts",
    "/admin/models", "/admin/misunderstood", "/admin/annotations", "/admin/audit",
    "/admin/users",
)  # fmt: skip


def registered_person(stack: Stack) -> int:
    """A registered young person in the stack's database, for their page."""
    from bot.db.session import session_factory
    from bot.services import people

    with session_factory(stack.settings.database_url).begin() as session:
        person = people.give_consent(session, "tg-a11y-person")
        people.save_profile(
            session, "tg-a11y-person",
            people.Profile(name="Amira", age=20, place="Tunis", country="TN", situation="both",
                           education="vocational", interests=["digital"], language="ar"),
        )  # fmt: skip
        return person.id


def test_every_page_passes_the_accessibility_check_and_fits_a_phone(
    browser, stack: Stack, connector: Connector, dashboard: Dashboard, fake_telegram
) -> None:
    """axe-core (WCAG 2.1 AA): no serious or critical violation on any page, as a coach and as
    an admin; and at 390 px wide nothing is wider than the screen."""
    create_account(stack, "ines", "admin", PASSWORD)
    chat = Person(fake_telegram, language_code="ar")
    chat.say("أبحث عن عمل في تونس")
    person_id = registered_person(stack)
    page = browser.new_context(bypass_csp=True).new_page()  # to inject axe-core
    page.set_default_timeout(20_000)
    page.goto(dashboard.url + "/login")
    problems = {"/login": axe_problems(page)}
    sign_in_as(page, dashboard, "ines")
    pages = [
        *COACH_PAGES, "/conversations/" + sender_id(chat),
        f"/people/{person_id}", *ADMIN_PAGES,
    ]  # fmt: skip
    wide: dict[str, int] = {}
    for path in pages:
        page.set_viewport_size({"width": 1280, "height": 900})
        response = page.goto(dashboard.url + path)
        assert response is not None and response.ok, path
        problems[path] = axe_problems(page)
        wide[path] = overflow_at_phone_width(page)
    found = {path: items for path, items in problems.items() if items}
    assert found == {}, "\n".join(
        f"{path}: {item}" for path, items in found.items() for item in items
    )
    assert {path: pixels for path, pixels in wide.items() if pixels} == {}
    page.context.close()


def english_left(page: Page, code: str) -> list[str]:
    """Texts of the dashboard still in English on the open page for a reader of `code`: every
    marked text of two words or more whose translation differs from the English, found in what
    the page shows (its text, and its buttons' and fields' names), leaving out what the page
    marks as not to be translated (`translate="no"`: the bot's own English texts, say)."""
    from babel.messages.pofile import read_po

    po = Path(__file__).resolve().parents[3] / "dashboard" / "locale" / code / "LC_MESSAGES"
    with (po / "messages.po").open("rb") as source:
        catalog = read_po(source, locale=code)
    english = [
        message.id
        for message in catalog
        if isinstance(message.id, str)
        and "%" not in message.id
        and "<" not in message.id
        and len(message.id.split()) >= 2
        and message.string
        and message.string != message.id
    ]
    shown = page.evaluate(
        """() => {
            const page = document.body.cloneNode(true);
            page.querySelectorAll('[translate="no"], script, style').forEach(node => node.remove());
            return page.textContent + "\\n" + [...page.querySelectorAll(
            "[aria-label], [placeholder], [title]")].map(node =>
            [node.getAttribute("aria-label"), node.getAttribute("placeholder"),
             node.getAttribute("title")].join("\\n")).join("\\n") + "\\n" + document.title;
        }"""
    )
    return sorted(text for text in english if text in shown)


def test_a_croatian_coach_and_an_arabic_admin_use_the_dashboard_without_a_word_of_english(
    browser, stack: Stack, connector: Connector, dashboard: Dashboard, fake_telegram
) -> None:
    """Ivana's browser speaks Croatian: the dashboard does, from the sign-in page on. Layla's
    speaks English, and she chooses Arabic on her settings page: every page is then Arabic,
    right to left, still fits a phone and passes the accessibility check. Neither sees a text of
    the dashboard in English."""
    create_account(stack, "ivana", "coach", PASSWORD)
    create_account(stack, "layla", "admin", PASSWORD)
    chat = Person(fake_telegram, language_code="hr")
    chat.say("Tražim posao u Splitu")
    person_id = registered_person(stack)
    croatian = browser.new_context(locale="hr-HR").new_page()
    croatian.set_default_timeout(20_000)
    croatian.goto(dashboard.url + "/login")
    assert croatian.locator("html").get_attribute("lang") == "hr"
    assert english_left(croatian, "hr") == []
    croatian.locator("input[name=username]").fill("ivana")
    croatian.locator("input[name=password]").fill(PASSWORD)
    croatian.locator("form[action='/login'] button[type=submit]").click()
    croatian.wait_for_url(re.compile(r"/conversations"))
    left: dict[str, list[str]] = {}
    for path in (*COACH_PAGES, "/conversations/" + sender_id(chat), f"/people/{person_id}"):
        response = croatian.goto(dashboard.url + path)
        assert response is not None and response.ok, path
        left[path] = english_left(croatian, "hr")
    assert {path: texts for path, texts in left.items() if texts} == {}
    croatian.context.close()

    arabic = browser.new_context(locale="en-US", bypass_csp=True).new_page()  # axe-core
    arabic.set_default_timeout(20_000)
    sign_in_as(arabic, dashboard, "layla")
    arabic.goto(dashboard.url + "/account")
    arabic.locator("#language").select_option("ar")
    with arabic.expect_navigation():
        arabic.get_by_role("button", name="Use this language").click()
    expect(arabic.locator("html")).to_have_attribute("dir", "rtl")
    assert arabic.locator("html").get_attribute("lang") == "ar"
    wide: dict[str, int] = {}
    problems: dict[str, list[str]] = {}
    for path in (*COACH_PAGES, f"/people/{person_id}", *ADMIN_PAGES):
        arabic.set_viewport_size({"width": 1280, "height": 900})
        response = arabic.goto(dashboard.url + path)
        assert response is not None and response.ok, path
        assert arabic.locator("html").get_attribute("dir") == "rtl", path
        left[path] = english_left(arabic, "ar")
        problems[path] = axe_problems(arabic)
        wide[path] = overflow_at_phone_width(arabic)
    assert {path: texts for path, texts in left.items() if texts} == {}
    assert {path: items for path, items in problems.items() if items} == {}
    assert {path: pixels for path, pixels in wide.items() if pixels} == {}
    arabic.context.close()
