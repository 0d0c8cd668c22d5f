"""The portal in a real browser (issue 19, "How we will know"): a customer logs in by the
link mailed to them, reads their ticket, and adds a comment with a file, in headless Chromium
on a phone-sized window, with no JavaScript of ours (the pages have none). A screenshot of
each page goes to test-output/screenshots/ (browser_support.py)."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.browser_support import needs_chromium, save_screenshot
from tests.conftest import DOMAIN, wait_until
from tests.portal_support import PortalInstallation

pytestmark = [pytest.mark.slow, needs_chromium]
CUSTOMER = "maria.lopez@example.org"


def opening_mail() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"María López <{CUSTOMER}>"
    msg["To"] = f"support@{DOMAIN}"
    msg["Subject"] = "Mi pulsera no sincroniza los pasos"
    msg["Message-ID"] = "<CAF=browser-1@mail.gmail.com>"
    msg.set_content("Hola,\n\nDesde ayer la pulsera no sincroniza los pasos con la app.\n\n"
                    "Gracias,\nMaría\n")
    return msg


def login_link(inst: PortalInstallation) -> str:
    """The link of the newest login mail to the customer, once it is in the maildir."""
    def link() -> str | None:
        for raw in reversed(inst.outbound()):
            mail = message_from_bytes(raw, policy=policy.default)
            if CUSTOMER not in str(mail["To"]):
                continue
            body = mail.get_body(("plain",))
            found = re.search(re.escape(inst.url) + r"/login/[A-Za-z0-9_-]+",
                              body.get_content() if body else "")
            if found:
                return found.group(0)
        return None
    return str(wait_until(link, 30, "the login mail"))


def test_log_in_read_a_ticket_and_comment_with_a_file(tmp_path: Path,
                                                      chrome: webdriver.Chrome) -> None:
    inst = PortalInstallation(tmp_path)
    inst.start()
    try:
        inst.send(opening_mail())
        number = inst.wait_processed(1)[0]["number"]

        chrome.get(inst.url + "/login")
        save_screenshot(chrome, "1-login")
        chrome.find_element(By.CSS_SELECTOR, "input[name=email]").send_keys(CUSTOMER)
        chrome.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
        save_screenshot(chrome, "2-link-sent")
        assert "link" in chrome.find_element(By.TAG_NAME, "main").text.lower()

        chrome.get(login_link(inst))
        assert chrome.current_url == inst.url + "/tickets"
        save_screenshot(chrome, "3-my-tickets")
        chrome.find_element(By.CSS_SELECTOR, f"a[href='/tickets/{number}']").click()
        page = chrome.find_element(By.TAG_NAME, "main").text
        assert "no sincroniza los pasos" in page
        save_screenshot(chrome, "4-ticket")

        attachment = tmp_path / "captura-app.png"
        attachment.write_bytes(PNG)
        form = chrome.find_element(By.CSS_SELECTOR, f"form[action='/tickets/{number}/comments']")
        form.find_element(By.CSS_SELECTOR, "textarea[name=text]").send_keys(
            "Adjunto una captura de la pantalla de sincronización.")
        form.find_element(By.CSS_SELECTOR, "input[type=file][name=files]").send_keys(
            str(attachment))
        form.find_element(By.CSS_SELECTOR, "button").click()
        assert chrome.current_url.startswith(f"{inst.url}/tickets/{number}")
        page = chrome.find_element(By.TAG_NAME, "main").text
        assert "Adjunto una captura" in page and "captura-app.png" in page
        save_screenshot(chrome, "5-comment-added")

        shown = inst.show(number)
        texts = " ".join(m["text"] for m in shown["messages"])
        assert "Adjunto una captura" in texts
        files = [a["filename"] for m in shown["messages"] for a in m["attachments"]]
        assert files == ["captura-app.png"]
    finally:
        inst.stop()


# A real 1x1 PNG (what a screenshot file starts as), so libmagic names it image/png.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5f6"
    "e0a40000000049454e44ae426082")
