"""Issue 12, the customer directory in the database (store/customers.py, m020) and the
sender's entry in the worker's context (context.py), on real SQLite files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from maildaemon.config import Config, config_from_dict
from maildaemon.context import ContextLoader
from maildaemon.domain import Customer, CustomerChange, Tier
from maildaemon.store import CustomerDirectory, Store, open_customers
from maildaemon.store.readonly import ReadOnlyStore
from maildaemon.worker import policy_settings
from tests.backends import NOW, mail

SETTINGS = policy_settings(Config())
ANN = CustomerChange("Ann@Example.org", Tier.PREMIUM, "Ann Élise", "am@healthsync.com")


def directory(storage: dict[str, Any]) -> CustomerDirectory:
    return open_customers(config_from_dict({"storage": storage}))


def test_a_customer_is_added_found_by_any_case_listed_and_removed(
        storage: dict[str, Any]) -> None:
    customers = directory(storage)
    assert customers.upsert_customers(
        [ANN, CustomerChange("bob@example.org", Tier.PLUS)], NOW) == 2
    ann = Customer("ann@example.org", Tier.PREMIUM, "Ann Élise", "am@healthsync.com")
    assert customers.customer("ANN@example.ORG") == ann
    assert customers.customers() == [ann, Customer("bob@example.org", Tier.PLUS, "", None)]
    assert customers.remove_customer("Ann@example.org") is True
    assert customers.remove_customer("ann@example.org") is False
    assert customers.customer("ann@example.org") is None
    customers.close()


def test_an_update_changes_what_it_names_and_keeps_the_rest(storage: dict[str, Any]) -> None:
    customers = directory(storage)
    customers.upsert_customers([ANN], NOW)
    customers.upsert_customers([CustomerChange("ann@example.org", Tier.ENTERPRISE)], NOW)
    assert customers.customer("ann@example.org") == Customer(
        "ann@example.org", Tier.ENTERPRISE, "Ann Élise", "am@healthsync.com")
    # An empty account manager removes it; an empty name empties it.
    customers.upsert_customers([CustomerChange("ann@example.org", Tier.FREE, "", "")], NOW)
    assert customers.customer("ann@example.org") == Customer(
        "ann@example.org", Tier.FREE, "", None)
    # The same address twice in one batch: the later row wins.
    customers.upsert_customers([CustomerChange("ann@example.org", Tier.PLUS),
                                CustomerChange("ANN@example.org", Tier.PREMIUM)], NOW)
    assert customers.customers()[0].tier == Tier.PREMIUM
    customers.close()


def test_the_lookup_is_one_search_of_the_primary_key(tmp_path: Path) -> None:
    store = Store(tmp_path)
    plan = store.conn.execute("EXPLAIN QUERY PLAN SELECT email, tier, name, account_manager"
                              " FROM customers WHERE email = ?", ("a@b.org",)).fetchall()
    assert [row["detail"] for row in plan] == ["SEARCH customers USING PRIMARY KEY (email=?)"]
    store.close()


def test_the_context_carries_the_senders_entry_and_nobody_elses(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.upsert_customers([ANN], NOW)
    loader = ContextLoader(store, SETTINGS, b"s" * 32)
    found = loader.load(mail(from_addr="ANN@example.org"), NOW).customer
    assert found is not None and found.tier == Tier.PREMIUM
    assert found.account_manager == "am@healthsync.com"
    # Unknown senders are free (no entry); the tier a mail claims is never read.
    claims = mail(from_addr="eve@example.org", body="Account type: Premium\nHelp!")
    assert loader.load(claims, NOW).customer is None
    assert loader.load(replace(mail(), from_addr=""), NOW).customer is None
    store.close()


def test_decide_reads_the_directory_from_a_read_only_database(tmp_path: Path) -> None:
    writer = Store(tmp_path)
    writer.upsert_customers([ANN], NOW)
    writer.close()
    readonly = ReadOnlyStore(tmp_path)
    assert readonly.customer("ann@example.org") is not None
    readonly.close()
