"""The Redis key layout: the only place in the project that builds key strings.

Per-entity keys share a hash tag (`{unit:U-1}`) so that a Redis Cluster keeps an entity's state,
its dedupe set and its track in one slot. The global indexes (GEO sets, alert index, streams) are
single keys; see docs/architecture.md for what that means past one Redis node.
"""

from __future__ import annotations

from typing import Literal

EntityKind = Literal["unit", "vessel", "sensor"]

# Global keys
VERSION = "live:version"  # INCR on every change to units, vessels, sensors and coverage
# INCR on every change to alerts and incidents: the live pictures re-read those (a few hundred
# hashes) only when this moved; the live version the pages poll is the sum of the two
OVERLAYS_VERSION = "live:version:overlays"
HEARTBEAT = "ingest:heartbeat"  # hash: ts_ms, pid, broker_connected, ...
STATS = "stats:ingest"  # hash: per store operation: applied, duplicate, stale, alerts
# hash: per message: received = applied + duplicate + stale + deadletter + ignored
MESSAGE_OUTCOMES = "stats:messages"
DEADLETTER = "stream:deadletter"
DEADLETTER_COUNTS = "stats:deadletter"  # hash: reason -> dead-letter entries
IGNORED_COUNTS = "stats:ignored"  # hash: reason -> messages ignored
ALERTS = "stream:alerts"  # history of alerts, trimmed by age
ALERTS_OPEN = "idx:alerts:open"  # zset alert id -> ts_ms
EVENTS = "stream:events"  # profile and status changes, trimmed by age
# one entry per ingest batch that changed live state: the entities it changed ("unit:U-1 ..."),
# so a web process updates its picture by reading only those (services/picture.py)
LIVE_CHANGES = "stream:live:changes"
# The deployment's one live picture (store/picture_stream.py): the updates its builder made,
# the whole picture now and then (hash: token, seq, entry, body), and the lease of the web
# process that builds it (the others relay)
PICTURE = "stream:live:picture"
PICTURE_WHOLE = "live:picture:whole"
PICTURE_BUILDER = "live:picture:builder"
PICTURE_WANTED = "live:picture:wanted"  # a relay that missed updates asks for a whole picture


def geo(kind: EntityKind) -> str:
    """GEO index of the last known positions of every entity of a kind."""
    return f"geo:{kind}s"


# A unit also sits in smaller GEO indexes, one per (kind, department) and per (kind, skill), so
# the dispatch query reads only units that could take the incident (store/dispatch.py). The
# state hash field GEO_FACETS_FIELD lists them, so the ingest scripts move the unit in each.
GEO_FACETS_FIELD = "_geo"
# A unit's coverage tracker (domain.coverage.TrackerState as JSON) lives in its state hash too,
# so the worker reads a batch's profiles and trackers in one go (store/coverage.py).
COVERAGE_TRACKER_FIELD = "_cov"


def unit_geo_facet(kind: str, *, department: str | None = None, skill: str | None = None) -> str:
    """GEO index of the units of one kind and one department, or one kind and one skill
    (an incident type). The caller passes validated vocabulary, never free text."""
    if (department is None) == (skill is None):
        raise ValueError("name exactly one of department or skill")
    return (
        f"geo:units:{kind}:dept:{department}"
        if skill is None
        else f"geo:units:{kind}:skill:{skill}"
    )


def index(kind: EntityKind) -> str:
    """Set of every known id of a kind (also those without a position yet)."""
    return f"idx:{kind}s"


def state(kind: EntityKind, entity_id: str) -> str:
    """Hash of the entity's live state: profile fields and last position or reading."""
    return f"{kind}:{{{entity_id}}}"


def seen(kind: EntityKind, entity_id: str) -> str:
    """Zset of recent message identities (score = message time), for redelivery dedupe."""
    return f"{kind}:{{{entity_id}}}:seen"


def track(kind: EntityKind, entity_id: str) -> str:
    """Stream of the entity's positions or readings, trimmed by age."""
    return f"{kind}:{{{entity_id}}}:track"


def alert(alert_id: str) -> str:
    return f"alert:{{{alert_id}}}"


AIS_FRAGMENTS_PENDING = "ais:frag:pending"  # zset group key -> deadline ms
_FRAG_PREFIX, _FRAG_SUFFIX = "ais:frag:{", "}"


def ais_fragments(group_key: str) -> str:
    """Hash index -> NMEA line of a multi-part AIS message still waiting for its other parts."""
    return f"{_FRAG_PREFIX}{group_key}{_FRAG_SUFFIX}"


def ais_fragments_affixes() -> tuple[str, str]:
    """Prefix and suffix around a group key, for the Lua sweep that rebuilds the key names."""
    return _FRAG_PREFIX, _FRAG_SUFFIX


# The vessel watch (ingest/vessel_watch.py, domain/vessel_rules.py): zsets the ingest path adds
# to with one ZADD per batch and the worker scans each second.
VESSELS_WATCHED = "vessels:watch"  # mmsi -> last heard (server ms), under way near the district
VESSELS_DARK = "vessels:dark"  # mmsi -> last heard (server ms) before its AIS gap began
VESSELS_LOITER = "vessels:loiter"  # "mmsi|zone" -> when first heard slow in the zone (server ms)
VESSELS_TRAWLING = "vessels:trawling"  # mmsi -> heard at trawling speed in the moratorium


# Accounts and server-side sessions. A user's name is validated (store/users.py) so it never
# holds braces; the hash tag keeps a user's record in one Cluster slot.
USERS = "idx:users"  # set of account names


def user(name: str) -> str:
    """Hash of an account: role, argon2id password hash, created_ms."""
    return f"user:{{{name}}}"


def session(sid: str) -> str:
    """Hash of a signed-in session (user, created_ms) that expires with the session; deleting it
    ends the session on the server whatever the browser still holds."""
    return f"session:{{{sid}}}"


def login_failures(kind: str, ident: str, addr: str = "") -> str:
    """Counter of recent failed sign-ins, expiring: per client `addr`, per `account` (from any
    address) or, with `addr`, per account from that address (in the account's slot, so one
    script counts both)."""
    return f"loginfail:{kind}:{{{ident}}}" + (f":{addr}" if addr else "")


def login_lock(kind: str, ident: str, addr: str = "") -> str:
    """Present while sign-ins from an address, or for an account from an address, must wait;
    its TTL is the wait."""
    return f"loginlock:{kind}:{{{ident}}}" + (f":{addr}" if addr else "")


def user_tokens(name: str) -> str:
    """Hash of an account's API tokens: token id -> SHA-256 of the token (to revoke them all)."""
    return f"user:{{{name}}}:tokens"


def api_token(digest: str) -> str:
    """Hash (user, id, created_ms, account_ms) of one API token, found by the token's SHA-256:
    the token itself is never stored."""
    return f"apitoken:{{{digest}}}"


# Wall screens' sessions (services/walls.py): a record per issue, its one-time sign-in link.
WALLS = "idx:walls"  # zset wall id -> issued_ms


def wall(wall_id: str) -> str:
    """Hash of one wall screen's session: screen, by, issued_ms, link_until_ms, link (the
    one-time code's SHA-256 until it is used), sid, signed_in_ms, expires_ms, revoked_ms,
    revoked_by. The session itself is `session:{sid}`, whose user is `wall:{id}`."""
    return f"wall:{{{wall_id}}}"


def wall_link(digest: str) -> str:
    """The wall id a one-time sign-in code opens (found by the code's SHA-256; expires)."""
    return f"wall:link:{{{digest}}}"


# Incidents (cases). The record and its timeline share a hash tag; a unit's current task shares
# the unit's tag (see docs/architecture.md for what assignment across slots means on a cluster).
INCIDENTS = "idx:incidents"  # zset id -> created_ms: every incident
INCIDENTS_OPEN = "idx:incidents:open"  # zset id -> created_ms: not closed, rejected, transferred
OUTBOX = "stream:outbox"  # dispatch notices waiting to be published to units over MQTT
OUTBOX_GROUP = "publishers"  # the consumer group of the workers that publish them


def incident(incident_id: str) -> str:
    """Hash of an incident: type, source, domain, priority, location, state, units, ..."""
    return f"incident:{{{incident_id}}}"


def incident_timeline(incident_id: str) -> str:
    """Stream of the incident's transitions (from, to, by, at_ms, reason), never trimmed."""
    return f"incident:{{{incident_id}}}:timeline"


def incident_notes(incident_id: str) -> str:
    """Stream of the notes and evidence added to an incident (kind, by, at_ms, ...), never
    trimmed; apart from the timeline so that a replay of transitions sees only transitions."""
    return f"incident:{{{incident_id}}}:notes"


def incident_sequence(day: str) -> str:
    """Counter of the incidents opened on a local (Shenzhen) day (YYYYMMDD), for readable ids."""
    return f"seq:incidents:{day}"


def unit_task(unit_id: str) -> str:
    """Hash of the incident a unit is assigned to (incident, priority, assigned_ms, by)."""
    return f"unit:{{{unit_id}}}:task"


# Patrol coverage (store/coverage.py). Places and hexagons are ids from config/coverage and h3;
# kinds and departments are validated vocabulary, so none of them holds a "|" or a brace.
COVERAGE_LAST = "cov:last"  # zset place -> last visit ms (ZADD GT: never goes back)
COVERAGE_LAST_BY = "cov:last:by"  # hash place -> unit id of that visit
COVERAGE_OWNERS = "cov:owners"  # hash place -> responsible person set by an admin
PATROL_LOGS = "stream:patrol-logs"  # checked patrol logs with their flags, trimmed by age


def patrol_log_seen(unit_id: str, ts: int) -> str:
    """Marker of a patrol log already checked (a redelivered log is kept once)."""
    return f"unit:{{{unit_id}}}:patrol-log:{ts}"


def coverage_last(kind: str, department: str) -> str:
    """Zset place -> last visit ms by units of one kind and department (the page's filters)."""
    return f"cov:last:{kind}:{department}"


def coverage_day(day: str) -> str:
    """Zset "place|kind|department" -> last visit ms on a local day (YYYYMMDD): the trend."""
    return f"cov:day:{day}"


def coverage_presence_day(day: str) -> str:
    """The same per local day (YYYYMMDD): what the day and week windows read."""
    return f"cov:presence:day:{day}"


def coverage_presence(hour: str) -> str:
    """Hash "hexagon|kind|department" -> seconds of patrol presence in a UTC hour
    (YYYYMMDDHH): the heatmap."""
    return f"cov:presence:{hour}"


# Hash local day (YYYYMMDD) -> the first heartbeat of a worker that day (epoch ms): the days
# the system ran. A KPI day counts when the system ran (this, or a closed-day row); a day it
# did not run is "no data", never 0 % (issue 17).
RAN_DAYS = "system:ran_days"


def kpi_day(day: str) -> str:
    """Hash of a closed local day's figures that Redis does not keep raw for long (units on
    duty per hour, water-quality day rows): fields on_duty, water (JSON), closed_ms, source."""
    return f"kpi:day:{day}"


def kpi_day_closing(day: str) -> str:
    """Present (with a time to live) while one worker closes a local day (YYYYMMDD): with
    several workers, the day's rows are computed and written once, and its retention erasure
    recorded once."""
    return f"kpi:day:{day}:closing"


def kpi_incidents(day: str) -> str:
    """Hash of the incident figures' additive tables for the incidents created on a local day
    (store/kpi_incident_days.py): tables (JSON), live (ids still open or not of the day, read
    raw), members (how many incidents the day had), rules, format, stamp, built_ms."""
    return f"kpi:incidents:{day}"


# The broker's roster of field devices and service accounts (store/devices.py), and what the
# embedded broker hands to the worker. Device ids never hold braces (domain.devices.ID_RE).
DEVICES = "idx:devices"  # set of device ids
# a new random value at every change (never a counter: one that restarted after a flush could
# repeat the value a broker last read): the broker re-reads the roster when it differs
DEVICES_VERSION = "devices:version"
MQTT_REFUSED = "stats:mqtt:refused"  # hash "identity|reason" -> count, kept by the broker
# every accepted message, written before the broker's PUBACK; and what an officer's phone sends
# over HTTPS (store/field.py), read by every worker whatever its INGEST_SOURCE
INGEST_INBOX = "stream:inbox"
INGEST_INBOX_GROUP = "ingest"  # the consumer group of the workers that read the inbox


def device(device_id: str) -> str:
    """Hash of a device: kind, secret (mosquitto's PBKDF2 hash), created_ms, revoked_ms."""
    return f"device:{{{device_id}}}"


# The audit log (store/audit.py, domain/audit.py): one chain per retention class, each chain's
# keys under one hash tag, so that appending (one script) stays in one slot of a cluster.
def audit_head(chain: str) -> str:
    """Hash of the chain's last entry: seq, hash, day."""
    return f"audit:{{{chain}}}:head"


def audit_days(chain: str) -> str:
    """Zset of the local days (YYYYMMDD, also the score) that hold entries."""
    return f"audit:{{{chain}}}:days"


def audit_day(chain: str, day: str) -> str:
    """List of a day's entries (canonical JSON), in chain order."""
    return f"audit:{{{chain}}}:day:{day}"


def audit_heads(chain: str) -> str:
    """List of the chain's signed heads (JSON), oldest first."""
    return f"audit:{{{chain}}}:heads"


def audit_ref(chain: str, ref: str) -> str:
    """List of "day:index" of the entries whose actor or object is `ref` (a trail)."""
    return f"audit:{{{chain}}}:ref:{ref}"


def audit_signer(chain: str) -> str:
    """A short lock: one process signs a chain's head per period."""
    return f"audit:{{{chain}}}:signer"


# -- citizen reports (store/reports.py) -----------------------------------------------------

REPORTS_ALL = "report:recent"  # zset "ms:random" -> ms: every report accepted, the last hour


def report_challenge(challenge: str) -> str:
    """A proof-of-work challenge handed out and not used yet (TTL)."""
    return f"report:challenge:{challenge}"


def report_recent(addr: str) -> str:
    """zset: the reports accepted from one address, the last hour."""
    return f"report:recent:{addr}"


def report_tracking(code: str) -> str:
    """A citizen's tracking code -> the incident it follows (the one it opened, or the one that
    was merged into)."""
    return f"report:track:{code}"


def report_codes(incident_id: str) -> str:
    """set: the tracking codes that follow an incident."""
    return f"report:codes:{incident_id}"


# The field app (store/field.py): what an officer's phone sent, kept once per idempotency key.
FIELD_STATS = "stats:field"  # hash "kind|outcome" -> count (relayed, duplicate)


def field_taking(unit_id: str, key: str) -> str:
    """string, expires: a request is taking the action of this key now (a resend from another
    tab, or a retry of a request still running, waits for it: services/field.py)."""
    return f"field:taking:{{{unit_id}}}:{key}"


def field_once(unit_id: str, key: str) -> str:
    """string, expires: an action a phone sent with this idempotency key was taken; a resend
    (the phone queued it offline, or never saw the answer) gets this outcome back."""
    return f"field:once:{{{unit_id}}}:{key}"


def unit_messages(unit_id: str) -> str:
    """stream: the messages between the centre and a unit, both ways (dir to_unit / from_unit,
    by, text, at_ms), the last 1,000 kept; the record of each is in the audit log."""
    return f"unit:{{{unit_id}}}:messages"


def unit_messages_read(unit_id: str) -> str:
    """hash: message id -> when the unit's phone showed it (ms)."""
    return f"unit:{{{unit_id}}}:messages:read"


FIELD_WAKE = "stream:field:wake"  # unit ids whose phone should look again now (messages)


def archive_hours(kind: EntityKind) -> str:
    """hash: UTC hour start (ms) -> "rows min_ts max_ts" of the hour of a kind's track entries
    (by arrival) written to the Parquet archive (store/archive.py); rows 0: nothing that hour."""
    return f"archive:{kind}:hours"


ARCHIVE_LOCK = "archive:lock"  # string (TTL): the worker writing the archive now (one at a time)
