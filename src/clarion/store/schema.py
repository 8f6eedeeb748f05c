"""Tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create exactly these;
``tests/integration/test_migrations.py`` checks there is no drift.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from clarion.store.types import BigId, Money, UtcDateTime

# The predicate of the partial index ``ix_messages_in_flight``; a query uses the index
# only when it states this very condition with the literal (not a bound parameter).
IN_FLIGHT = "status = 'SENDING'"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("balance", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("moderation_required", Boolean, nullable=False, server_default="0"),
    # JSON list of ISO country codes; NULL = every country.
    Column("allowed_countries", JSON, nullable=True),
    Column("blocked_operators", JSON, nullable=True),
    # What a carrier's negative report gives back: "none" (charge on submit, keep it)
    # or "undelivered" (refund messages that end UNDELIVERED or REJECTED by report).
    Column("refund_policy", String(16), nullable=False, server_default="none"),
    # Operator accounts moderate other accounts' campaigns (approve / decline).
    Column("is_operator", Boolean, nullable=False, server_default="0"),
    # A balance.low event is emitted when a debit takes the balance below this.
    Column("low_balance", Money, nullable=True),
    # Account-wide send rate (messages/s over all its campaigns and all workers): a
    # token bucket of one second, kept in the row so every worker shares it.
    Column("rate_limit", Integer, nullable=True),
    Column("rate_tokens", Float, nullable=False, server_default="0"),
    Column("rate_at", UtcDateTime, nullable=True),
    # Voice dialects: wolkvox's daily request quota is licences x 1000; iSales addresses
    # an account as its VDN (1-9999; NULL = the account id when that is in range).
    Column("licences", Integer, nullable=False, server_default="10"),
    Column("vdn_id", Integer, nullable=True, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("label", String(200), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("channel_name", String(64), nullable=False),
    Column("type", String(16), nullable=False),
    Column("sender", String(64), nullable=False, server_default=""),
    Column("text", Text, nullable=False, server_default=""),
    Column("status", String(16), nullable=False),
    Column("pause_reason", String(16), nullable=True),
    Column("moderated", Boolean, nullable=False, server_default="0"),
    Column("rate_limit", Integer, nullable=True),
    Column("rate_period", Integer, nullable=True),
    Column("start_at", UtcDateTime, nullable=True),
    # The end of a voice campaign's period (iSales ``strEndTime``): the call engine
    # ends the campaign then (STOPPED; numbers still waiting EXPIRED). NULL = none.
    Column("ends_at", UtcDateTime, nullable=True),
    Column("validity_minutes", Integer, nullable=True),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("mclass", Integer, nullable=True),
    Column("placeholders_flag", Integer, nullable=False, server_default="3"),
    Column("price_per_segment", Money, nullable=False),
    Column("settings", JSON, nullable=True),
    Column("spent", Money, nullable=False, server_default="0"),
    Column("recipients_rejected", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    # The import task holding the campaign's recipient list (Mobizon: "blocked for any
    # other adding recipients' request" while it runs); NULL = free.
    Column("import_task_id", BigId, nullable=True),
    # An RCS campaign's SMS fallback lives in an internal child campaign (channel sms)
    # whose ``parent_id`` is the RCS campaign; NULL for every campaign a user sees.
    Column("parent_id", BigId, nullable=True),
    # A dialect's own id for the campaign ("autocall:<uuid>", "isales:<vdn>:<n>"), or
    # NULL: unique per account.
    Column("external_id", String(80), nullable=True),
    Index(None, "account_id", "id"),
    Index(None, "account_id", "external_id", unique=True),
    Index(None, "status"),
    Index(None, "parent_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("country", String(2), nullable=False, server_default=""),
    Column("operator", String(100), nullable=False, server_default=""),
    Column("variables", JSON, nullable=True),
    # Rendered text for template campaigns; NULL means "the campaign's text".
    Column("text", Text, nullable=True),
    Column("segments", Integer, nullable=False),
    Column("price", Money, nullable=False),
    Column("charged", Money, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("channel_ref", String(100), nullable=True),
    Column("error_code", String(32), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("claimed_at", UtcDateTime, nullable=True),
    Column("status_updated_at", UtcDateTime, nullable=True),
    # A fallback message: the id of the (RCS) message it stands in for.
    Column("origin_id", BigId, nullable=True),
    # Voice: a NEW message waiting for its recall is not dialled before this.
    Column("not_before", UtcDateTime, nullable=True),
    UniqueConstraint("campaign_id", "phone"),
    Index(None, "campaign_id", "status", "id"),
    Index(None, "channel_ref"),
    # The messages in flight only (a partial index): reconciliation looks for SENDING
    # rows claimed long ago in every campaign, every housekeeping pass of every worker,
    # and must not scan the whole table to find the few there are.
    Index(
        "ix_messages_in_flight",
        "claimed_at",
        postgresql_where=text(IN_FLIGHT),
        sqlite_where=text(IN_FLIGHT),
    ),
)

# One row per (campaign, message status), created with the campaign; updated in the
# same transaction as the message rows it counts.
campaign_counters = Table(
    "campaign_counters",
    metadata,
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("messages", Integer, nullable=False, server_default="0"),
    Column("segments", Integer, nullable=False, server_default="0"),
    Column("cost", Money, nullable=False, server_default="0"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("campaign_id", BigId, nullable=True),
    Column("message_id", BigId, nullable=True),
    Column("amount", Money, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("messages", Integer, nullable=False, server_default="0"),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "account_id", "id"),
)

# Background work (recipient imports). ``checkpoint`` is the number of source rows
# fully processed; it advances in the same transaction as the rows it covers, so a
# task resumed after a crash neither skips nor repeats a row.
tasks = Table(
    "tasks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("campaign_id", BigId, nullable=True),
    Column("params", JSON, nullable=True),
    Column("source_path", Text, nullable=True),
    Column("total", Integer, nullable=False, server_default="0"),
    Column("done", Integer, nullable=False, server_default="0"),
    Column("checkpoint", Integer, nullable=False, server_default="0"),
    Column("counts", JSON, nullable=True),
    Column("result", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index(None, "status", "id"),
    Index(None, "account_id", "id"),
)

# Rejected source rows of a task: the downloadable report.
task_rejections = Table(
    "task_rejections",
    metadata,
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("row_number", Integer, primary_key=True),
    Column("value", Text, nullable=False, server_default=""),
    Column("code", Integer, nullable=False),
)

# Stop-list: account_id 0 is the system stop-list, shared by every account.
stop_list = Table(
    "stop_list",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigId, nullable=False),
    Column("phone", String(20), nullable=False),
    Column("comment", String(255), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "phone"),
    Index(None, "phone"),
)

# Address book. A contact card is a person (name, custom fields); its contacts are
# its typed values (mobile / phone / email); groups hold cards.
contact_cards = Table(
    "contact_cards",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False, server_default=""),
    Column("fields", JSON, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "account_id", "id"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigId, nullable=False),
    Column("card_id", ForeignKey("contact_cards.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("value", String(255), nullable=False),
    # E.164 form of a mobile / phone value that normalises; NULL otherwise.
    Column("phone", String(20), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "card_id"),
    Index(None, "account_id", "phone"),
)

contact_groups = Table(
    "contact_groups",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "name"),
)

contact_group_cards = Table(
    "contact_group_cards",
    metadata,
    Column("group_id", ForeignKey("contact_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("card_id", ForeignKey("contact_cards.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "card_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigId, nullable=False),
    Column("campaign_id", BigId, nullable=True),
    Column("action", String(32), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=True),
    Column("detail", String(255), nullable=True),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "campaign_id", "id"),
)


# Short links (Mobizon's Link module). A personal link (``parent_id`` set) is a
# recipient's own code for a campaign link, so clicks are attributed to the message.
links = Table(
    "links",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("code", String(32), nullable=False, unique=True),
    Column("full_link", Text, nullable=False),
    Column("comment", String(255), nullable=False, server_default=""),
    Column("status", Integer, nullable=False, server_default="1"),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("click_cnt", Integer, nullable=False, server_default="0"),
    Column("redirect_cnt", Integer, nullable=False, server_default="0"),
    Column("campaign_id", BigId, nullable=True),
    Column("message_id", BigId, nullable=True),
    Column("parent_id", BigId, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "account_id", "id"),
    Index(None, "campaign_id"),
    Index(None, "parent_id"),
)

# One row per visit of a short link: a click by a person, or a redirect served to a
# bot / link previewer (HEAD requests, known preview user agents).
link_visits = Table(
    "link_visits",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("link_id", ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("user_agent", String(255), nullable=False, server_default=""),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "link_id", "at"),
)


# Price tables: account_id 0 is the default table, applied to every account (an
# account's own rules override it rule by rule). country / operator "" = any.
prices = Table(
    "prices",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigId, nullable=False),
    Column("channel", String(8), nullable=False),
    Column("country", String(2), nullable=False, server_default=""),
    Column("operator", String(100), nullable=False, server_default=""),
    Column("unit", String(8), nullable=False),
    Column("price", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "channel", "country", "operator"),
)


# Event webhooks (docs/webhooks.md). An endpoint subscribes to event types; every
# event is written to ``events`` in the transaction of the change it reports (an
# outbox) with one ``webhook_deliveries`` row per subscribed endpoint, delivered
# at least once by the dispatcher's webhook sender.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2000), nullable=False),
    # The HMAC key deliveries are signed with: it must be readable to sign, so it is
    # stored as is (like any webhook provider does); shown to its owner on creation.
    Column("secret", String(64), nullable=False),
    Column("events", JSON, nullable=False),
    Column("description", String(255), nullable=False, server_default=""),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
    # A voice campaign's callback_url / answer_callback_url: only that campaign's
    # events, posted as the bare payload (the CDR); NULL = an account-wide endpoint.
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True),
    Index(None, "account_id", "id"),
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigId, nullable=False),
    Column("type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "account_id", "id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("endpoint_id", ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    # pending -> delivered | failed (gave up after the last retry); replay: -> pending
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "endpoint_id", "id"),
)

# Mobile-originated messages received over the SMPP binds (docs/channels/smpp.md).
mo_messages = Table(
    "mo_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigId, nullable=True),
    Column("phone", String(32), nullable=False),
    Column("to", String(32), nullable=False, server_default=""),
    Column("text", Text, nullable=False),
    Column("connection", String(64), nullable=False, server_default=""),
    # "stop" when the text was an opt-out keyword and the number was stop-listed.
    Column("action", String(16), nullable=False, server_default=""),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "account_id", "id"),
)

# Distributed dispatch (docs/architecture.md, "Scale-out"): every dispatcher process
# registers and heartbeats here; a RUNNING campaign is sent by the one worker holding
# its lease, so its pacing holds across workers. A lease whose ``until`` has passed
# (its worker died) is taken over by another worker.
workers = Table(
    "workers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False, server_default=""),
    Column("pid", Integer, nullable=False, server_default="0"),
    Column("started_at", UtcDateTime, nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
)

campaign_leases = Table(
    "campaign_leases",
    metadata,
    Column(
        "campaign_id",
        ForeignKey("campaigns.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("owner", String(64), nullable=False),
    Column("until", UtcDateTime, nullable=False),
    Index(None, "owner"),
)


# One row per call attempt of a voice message: its outcome and CDR. (message_id,
# attempt) is unique, so a report applied twice records nothing the second time.
call_attempts = Table(
    "call_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("campaign_id", BigId, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("phone", String(20), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("answered_at", UtcDateTime, nullable=True),
    Column("ended_at", UtcDateTime, nullable=False),
    Column("duration", Integer, nullable=False),  # s, start to end
    Column("billsec", Integer, nullable=False),  # s, answer to end
    Column("cost", Money, nullable=False, server_default="0"),
    Column("hangup_cause", String(64), nullable=False, server_default=""),
    Column("channel_ref", String(100), nullable=True),
    Column("agent", String(64), nullable=True),
    Column("abandoned", Boolean, nullable=False, server_default="0"),
    UniqueConstraint("message_id", "attempt"),
    Index(None, "campaign_id", "id"),
)

# Requests counted per key and UTC day (wolkvox: licences x 1000 per token per day).
api_quota = Table(
    "api_quota",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("used", Integer, nullable=False, server_default="0"),
)

# The last request let through per key (iSales: call data for a campaign at most
# once a second), shared by every API process.
api_spacing = Table(
    "api_spacing",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("last_at", UtcDateTime, nullable=False),
)

# Per-account counters of dialect ids (iSales campaign ids per VDN): never reused,
# even after the campaign holding the highest one is deleted.
id_counters = Table(
    "id_counters",
    metadata,
    Column("account_id", ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("namespace", String(64), primary_key=True),
    Column("last", BigInteger, nullable=False, server_default="0"),
)
