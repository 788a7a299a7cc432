#!/usr/bin/env python3
"""Smoke test of the Aftercare API through the Python client that openapi-python-client
generates from openapi/openapi.json (package `aftercare_api_client`, used unmodified).

Usage: smoke.py [BASE_URL [EMAIL [PASSWORD]]]
Defaults come from AFTERCARE_URL, AFTERCARE_EMAIL and AFTERCARE_PASSWORD.

Logs in, creates a customer with a phone contact, records an order, opens a
negative-review ticket, logs a reached contact, resolves the ticket, records the
buyer's satisfaction and reads the customer's standing. Then, as an integration: creates
an API key, feeds a customer, an order and a review through it (the review twice, with an
Idempotency-Key, and once more without: still one ticket), reads the customer's tier with
the key, checks that a write-only key gets a receipt instead of the customer, revokes the
key and checks it is refused. Every step checks the status code and
the parsed body; any failure exits non-zero.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
from typing import Any

from aftercare_api_client import AuthenticatedClient, Client
from aftercare_api_client.api.auth import login, me
from aftercare_api_client.api.customers import create_customer, get_customer
from aftercare_api_client.api.integrations import (
    create_api_key,
    revoke_api_key,
    upsert_one_customer,
    upsert_one_order,
    upsert_review,
)
from aftercare_api_client.api.operations import healthz
from aftercare_api_client.api.orders import create_order
from aftercare_api_client.api.tickets import (
    create_ticket,
    get_ticket,
    list_tickets,
    log_contact,
    record_satisfaction,
    resolve_ticket,
)
from aftercare_api_client.models.channel import Channel
from aftercare_api_client.models.contact_channel import ContactChannel
from aftercare_api_client.models.create_api_key_request import CreateApiKeyRequest
from aftercare_api_client.models.create_customer_request import CreateCustomerRequest
from aftercare_api_client.models.create_negative_review_ticket import CreateNegativeReviewTicket
from aftercare_api_client.models.create_negative_review_ticket_kind import CreateNegativeReviewTicketKind
from aftercare_api_client.models.create_order_request import CreateOrderRequest
from aftercare_api_client.models.created_api_key import CreatedApiKey
from aftercare_api_client.models.customer_upserted import CustomerUpserted
from aftercare_api_client.models.customer_view import CustomerView
from aftercare_api_client.models.health_status import HealthStatus
from aftercare_api_client.models.log_contact_request import LogContactRequest
from aftercare_api_client.models.login_request import LoginRequest
from aftercare_api_client.models.negative_review_details import NegativeReviewDetails
from aftercare_api_client.models.negative_review_ticket import NegativeReviewTicket
from aftercare_api_client.models.order_feed_item import OrderFeedItem
from aftercare_api_client.models.order_item_input import OrderItemInput
from aftercare_api_client.models.order_reference import OrderReference
from aftercare_api_client.models.order_upserted import OrderUpserted
from aftercare_api_client.models.order_view import OrderView
from aftercare_api_client.models.outcome import Outcome
from aftercare_api_client.models.phone_handle import PhoneHandle
from aftercare_api_client.models.phone_handle_kind import PhoneHandleKind
from aftercare_api_client.models.problem import Problem
from aftercare_api_client.models.receipt import Receipt
from aftercare_api_client.models.resolve_request import ResolveRequest
from aftercare_api_client.models.review_feed_item import ReviewFeedItem
from aftercare_api_client.models.review_upserted import ReviewUpserted
from aftercare_api_client.models.satisfaction_request import SatisfactionRequest
from aftercare_api_client.models.scope import Scope
from aftercare_api_client.models.shop_account_handle import ShopAccountHandle
from aftercare_api_client.models.shop_account_handle_kind import ShopAccountHandleKind
from aftercare_api_client.models.source import Source
from aftercare_api_client.models.state import State
from aftercare_api_client.models.ticket_page import TicketPage
from aftercare_api_client.models.token_response import TokenResponse
from aftercare_api_client.models.upsert_outcome import UpsertOutcome
from aftercare_api_client.models.user_view import UserView
from aftercare_api_client.types import Response


class SmokeFailure(Exception):
    pass


def check(step: str, response: Response[Any], status: int, model: type) -> Any:
    """The parsed body of `response`, after checking its status code and type."""
    got = int(response.status_code)
    parsed = response.parsed
    if got != status:
        if isinstance(parsed, Problem):
            detail = f"{parsed.type_}: {parsed.detail}"
        else:
            detail = response.content[:500].decode("utf-8", "replace")
        raise SmokeFailure(f"{step}: expected HTTP {status}, got {got} ({detail})")
    if not isinstance(parsed, model):
        raise SmokeFailure(
            f"{step}: HTTP {got} but the body did not parse as {model.__name__} "
            f"(got {type(parsed).__name__})"
        )
    return parsed


def expect(step: str, condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(f"{step}: {message}")


def ok(step: str, message: str) -> None:
    print(f"ok  {step:<12} {message}", flush=True)


def run(base_url: str, email: str, password: str) -> None:
    anonymous = Client(base_url=base_url, timeout=10.0)
    # Unique per run, so the script can run twice against the same database.
    run_id = f"{random.randrange(10**8):08d}"
    now = dt.datetime.now(dt.timezone.utc)

    health = check("healthz", healthz.sync_detailed(client=anonymous), 200, HealthStatus)
    ok("healthz", f"status={health.status}")

    token = check(
        "login",
        login.sync_detailed(client=anonymous, body=LoginRequest(email=email, password=password)),
        200,
        TokenResponse,
    )
    expect("login", token.token_type == "Bearer", f"token_type {token.token_type!r}")
    client = AuthenticatedClient(base_url=base_url, token=token.access_token, timeout=10.0)
    user = check("me", me.sync_detailed(client=client), 200, UserView)
    expect("me", user.email == email.lower(), f"token belongs to {user.email}")
    ok("login", f"as {user.email} (role {user.role.value}, token expires in {token.expires_in}s)")

    phone = f"139{run_id}"
    customer = check(
        "customer",
        create_customer.sync_detailed(
            client=client,
            body=CreateCustomerRequest(
                name=f"Smoke Test {run_id}",
                contacts=[PhoneHandle(kind=PhoneHandleKind.PHONE, value=phone)],
                source=Source.ONLINE,
                notes="created by clients/python/smoke.py",
            ),
        ),
        201,
        CustomerView,
    )
    expect(
        "customer",
        [(c.kind.value, c.value) for c in customer.contacts] == [("phone", phone)],
        f"contacts {customer.contacts}",
    )
    ok("customer", f"id={customer.id} phone={phone}")

    order = check(
        "order",
        create_order.sync_detailed(
            id=customer.id,
            client=client,
            body=CreateOrderRequest(
                channel=Channel.TAOBAO,
                external_order_no=f"SMOKE-{run_id}",
                items=[
                    OrderItemInput(
                        product_name="Ceramic teapot 600 ml",
                        quantity=2,
                        unit_price_cents=12990,
                        sku="TP-600",
                    )
                ],
                ordered_at=now - dt.timedelta(days=3),
            ),
        ),
        201,
        OrderView,
    )
    expect("order", order.customer_id == customer.id, f"customer_id {order.customer_id}")
    expect("order", order.total_cents == 2 * 12990, f"total_cents {order.total_cents}")
    ok("order", f"id={order.id} total_cents={order.total_cents} status={order.status.value}")

    created = create_ticket.sync_detailed(
        client=client,
        body=CreateNegativeReviewTicket(
            kind=CreateNegativeReviewTicketKind.NEGATIVE_REVIEW,
            customer_id=customer.id,
            order_id=order.id,
            title="2-star review: teapot lid chipped",
            description="Posted on Taobao",
            details=NegativeReviewDetails(
                platform=Channel.TAOBAO,
                rating=2,
                review_id=f"R-{run_id}",
                review_text="lid arrived chipped",
                posted_at=now - dt.timedelta(hours=1),
            ),
        ),
    )
    ticket = check("ticket", created, 201, NegativeReviewTicket)
    expect("ticket", ticket.state == State.NEW, f"state {ticket.state}")
    expect("ticket", isinstance(ticket.details, NegativeReviewDetails), f"details {ticket.details!r}")
    expect("ticket", ticket.details.rating == 2, f"rating {ticket.details.rating}")
    etag = created.headers.get("ETag")
    expect("ticket", bool(etag), "no ETag header")
    ok("ticket", f"id={ticket.id} state={ticket.state.value} priority={ticket.priority.value} etag={etag}")

    fetched = get_ticket.sync_detailed(id=ticket.id, client=client)
    check("get ticket", fetched, 200, NegativeReviewTicket)
    expect("get ticket", fetched.headers.get("ETag") == etag, f"ETag {fetched.headers.get('ETag')} != {etag}")

    # Each change is conditional on the ETag of the previous answer.
    contacted = log_contact.sync_detailed(
        id=ticket.id,
        client=client,
        if_match=etag,
        body=LogContactRequest(
            channel=ContactChannel.PHONE,
            reached=True,
            note="Apologised; sending a new lid",
        ),
    )
    ticket = check("contact", contacted, 200, NegativeReviewTicket)
    expect("contact", ticket.state == State.FIRST_CALL, f"state {ticket.state}")
    etag = contacted.headers.get("ETag")
    ok("contact", f"state={ticket.state.value} first_contact_at={ticket.first_contact_at}")

    resolved = resolve_ticket.sync_detailed(
        id=ticket.id,
        client=client,
        if_match=etag,
        body=ResolveRequest(outcome=Outcome.REVIEW_REVISED, note="Buyer raised the review to 5 stars"),
    )
    ticket = check("resolve", resolved, 200, NegativeReviewTicket)
    expect("resolve", ticket.state == State.RESOLVED, f"state {ticket.state}")
    expect("resolve", ticket.outcome == Outcome.REVIEW_REVISED, f"outcome {ticket.outcome}")
    etag = resolved.headers.get("ETag")
    ok("resolve", f"state={ticket.state.value} outcome={ticket.outcome.value}")

    rated = record_satisfaction.sync_detailed(
        id=ticket.id,
        client=client,
        if_match=etag,
        body=SatisfactionRequest(score=5, comment="quick and friendly"),
    )
    ticket = check("satisfaction", rated, 200, NegativeReviewTicket)
    expect("satisfaction", ticket.satisfaction is not None and ticket.satisfaction.score == 5,
           f"satisfaction {ticket.satisfaction!r}")
    ok("satisfaction", f"score={ticket.satisfaction.score}")

    # A page names its items' type: the customer's tickets come back as NegativeReviewTicket.
    page = check("list", list_tickets.sync_detailed(client=client, customer_id=customer.id), 200, TicketPage)
    expect("list", [type(t) for t in page.items] == [NegativeReviewTicket], f"items {page.items!r}")
    ok("list", f"{type(page).__name__} of {type(page.items[0]).__name__}")

    customer = check("standing", get_customer.sync_detailed(id=customer.id, client=client), 200, CustomerView)
    standing = customer.standing
    expect("standing", customer.orders.count == 1, f"orders {customer.orders!r}")
    ok(
        "standing",
        f"customer {customer.id}: tier={standing.tier.value} stage={standing.stage.value} "
        f"at_risk={standing.at_risk}",
    )

    integration(base_url, client)


def integration(base_url: str, admin: AuthenticatedClient) -> None:
    """What a shop's back office does with an API key."""
    run_id = f"{random.randrange(10**8):08d}"
    created = check(
        "api key",
        create_api_key.sync_detailed(
            client=admin,
            body=CreateApiKeyRequest(
                name=f"smoke {run_id}",
                scopes=[
                    Scope(s)
                    for s in ("customers:read", "customers:write", "orders:write", "tickets:read", "tickets:write")
                ],
            ),
        ),
        201,
        CreatedApiKey,
    )
    expect("api key", created.key.startswith("ak_"), "key format")
    ok("api key", f"id={created.id} prefix={created.prefix} scopes={[s.value for s in created.scopes]}")
    feed = AuthenticatedClient(
        base_url=base_url, token=created.key, prefix="", auth_header_name="X-API-Key", timeout=10.0
    )

    handle = ShopAccountHandle(kind=ShopAccountHandleKind.SHOP_ACCOUNT, value=f"buyer-{run_id}")
    customer = check(
        "feed customer",
        upsert_one_customer.sync_detailed(
            client=feed,
            body=CreateCustomerRequest(name=f"Feed Buyer {run_id}", contacts=[handle], source=Source.ONLINE),
        ),
        201,
        CustomerUpserted,
    )
    expect("feed customer", customer.outcome == UpsertOutcome("created"), f"outcome {customer.outcome}")
    ok("feed customer", f"id={customer.customer.id} outcome={customer.outcome.value}")

    order = check(
        "feed order",
        upsert_one_order.sync_detailed(
            client=feed,
            body=OrderFeedItem(
                customer_contacts=[handle],
                order=CreateOrderRequest(
                    channel=Channel.TMALL,
                    external_order_no=f"TM-{run_id}",
                    items=[OrderItemInput(product_name="Tea set", quantity=1, unit_price_cents=39900)],
                    ordered_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2),
                ),
            ),
        ),
        201,
        OrderUpserted,
    )
    ok("feed order", f"id={order.order.id} outcome={order.outcome.value}")

    review = ReviewFeedItem(
        platform=Channel.TMALL,
        review_id=f"TR-{run_id}",
        rating=1,
        review_text="cup cracked",
        customer_contacts=[handle],
        order=OrderReference(channel=Channel.TMALL, external_order_no=f"TM-{run_id}"),
    )
    key = f"review-{run_id}"
    first = upsert_review.sync_detailed(client=feed, body=review, idempotency_key=key)
    opened = check("feed review", first, 201, ReviewUpserted)
    replay = upsert_review.sync_detailed(client=feed, body=review, idempotency_key=key)
    replayed = check("feed review", replay, 201, ReviewUpserted)
    expect("feed review", replay.headers.get("Idempotent-Replayed") == "true", "retry was not replayed")
    expect("feed review", replayed.ticket.id == opened.ticket.id, "replay names another ticket")
    again = check("feed review", upsert_review.sync_detailed(client=feed, body=review), 200, ReviewUpserted)
    expect("feed review", again.ticket.id == opened.ticket.id, "the same review opened a second ticket")
    expect("feed review", again.outcome == UpsertOutcome("unchanged"), f"outcome {again.outcome}")
    ok("feed review", f"ticket {opened.ticket.id} (kind={opened.ticket.kind.value}); replayed, then unchanged")

    standing = check(
        "feed tier", get_customer.sync_detailed(id=customer.customer.id, client=feed), 200, CustomerView
    ).standing
    ok("feed tier", f"tier={standing.tier.value} stage={standing.stage.value} at_risk={standing.at_risk}")

    # A key that may write customers but not read them gets a receipt, never the customer.
    writer = check(
        "write-only key",
        create_api_key.sync_detailed(
            client=admin,
            body=CreateApiKeyRequest(name=f"smoke writer {run_id}", scopes=[Scope("customers:write")]),
        ),
        201,
        CreatedApiKey,
    )
    write_only = AuthenticatedClient(
        base_url=base_url, token=writer.key, prefix="", auth_header_name="X-API-Key", timeout=10.0
    )
    receipt = check(
        "write-only key",
        upsert_one_customer.sync_detailed(
            client=write_only,
            body=CreateCustomerRequest(name=f"Feed Buyer {run_id}", contacts=[handle], source=Source.ONLINE),
        ),
        200,
        Receipt,
    )
    expect("write-only key", receipt.id == customer.customer.id, f"receipt names customer {receipt.id}")
    expect("write-only key", receipt.outcome == UpsertOutcome("unchanged"), f"outcome {receipt.outcome}")
    ok("write-only key", f"receipt id={receipt.id} outcome={receipt.outcome.value}")
    revoke_api_key.sync_detailed(id=writer.id, client=admin)

    revoked = revoke_api_key.sync_detailed(id=created.id, client=admin)
    expect("revoke", int(revoked.status_code) == 204, f"HTTP {revoked.status_code}")
    refused = get_customer.sync_detailed(id=customer.customer.id, client=feed)
    expect("revoke", int(refused.status_code) == 401, f"revoked key got HTTP {refused.status_code}")
    ok("revoke", "the revoked key is refused (401)")


def main(argv: list[str]) -> int:
    base_url = argv[1] if len(argv) > 1 else os.environ.get("AFTERCARE_URL", "http://127.0.0.1:8080")
    email = argv[2] if len(argv) > 2 else os.environ.get("AFTERCARE_EMAIL", "admin@example.com")
    password = argv[3] if len(argv) > 3 else os.environ.get("AFTERCARE_PASSWORD")
    if not password:
        print("smoke.py: set AFTERCARE_PASSWORD (or pass BASE_URL EMAIL PASSWORD)", file=sys.stderr)
        return 2
    try:
        run(base_url.rstrip("/"), email, password)
    except SmokeFailure as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        return 1
    print("smoke: all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
