"""The Redis key layout: the only place in the project that builds key strings.

Every key starts with a hash tag, so that a Redis Cluster keeps together what one atomic step
touches (a script, a MULTI; docs/architecture.md, "Past one Redis node"):
- `{e00}` ... `{e63}`: an entity's live keys (its state, its dedupe set, its track), sharded by
  a CRC of the id. The ingest worker writes a batch in one script call per shard, and each
  shard keeps its own counters and events stream, written in the same atomic step;
- `{g}`: everything else (the indexes, incidents, dispatch, the audit chains, accounts...), so
  the scripts and transactions that join them run unchanged on a cluster, on one master.
Names inside keep the braces of the layout before tags (`{g}incident:{INC-1}`): only the first
pair is a key's hash tag, and `relayout` turns a name of that layout into this one.
"""

from __future__ import annotations

import re
import zlib
from typing import Literal

EntityKind = Literal["unit", "vessel", "sensor"]

SHARED_TAG = _G = "{g}"  # the tag of every shared key
SHARDS = 64  # entity shards: a batch is at most this many calls on a cluster, ~21 per master of 3
SHARD_TAGS = tuple(f"{{e{i:02d}}}" for i in range(SHARDS))
TAGS = (_G, *SHARD_TAGS)  # every tag, for the readers that gather what each group keeps


def _g(name: str) -> str:
    return _G + name


def shard(entity_id: str) -> str:
    """The tag of an entity's keys (CRC-32: the same in every process, unlike `hash`)."""
    return SHARD_TAGS[zlib.crc32(entity_id.encode()) % SHARDS]


def tag_of(key: str) -> str:
    """A key's hash tag, braces included."""
    return key[: key.index("}") + 1]


# The names of the layout before tags that hold an entity's live keys (everything else of that
# layout went under {g})
_ENTITY_BEFORE = re.compile(r"(?:unit|vessel|sensor):\{([^}]*)\}(?::seen|:track)?")


def relayout(name: str) -> str | None:
    """The name in this layout of a key written by a version before tags; None for a key that
    already has its tag."""
    if name.startswith("{"):
        return None
    m = _ENTITY_BEFORE.fullmatch(name)
    return (shard(m[1]) if m else _G) + name


# Global keys
VERSION = _g("live:version")  # INCR on every change to units, vessels, sensors and coverage
# INCR on every change to alerts and incidents: the live pictures re-read those (a few hundred
# hashes) only when this moved; the live version the pages poll is the sum of the two
OVERLAYS_VERSION = _g("live:version:overlays")
HEARTBEAT = _g("ingest:heartbeat")  # hash: ts_ms, pid, broker_connected, ...


def ingest_stats(tag: str = _G) -> str:
    """Hash: per store operation, applied, duplicate, stale, alerts. One per tag: an ingest
    script call counts into its group's, in the same atomic step as its writes, and the
    readers sum them (store/reader.ingest_stats)."""
    return tag + "stats:ingest"


def events(tag: str = _G) -> str:
    """Stream of profile and status changes (and the centre's acts on alerts, in {g}), trimmed
    by age. One per tag, written with the change it tells of; store/reader.events merges them."""
    return tag + "stream:events"


STATS = ingest_stats()
# hash: per message: received = applied + duplicate + stale + deadletter + ignored
MESSAGE_OUTCOMES = _g("stats:messages")
DEADLETTER = _g("stream:deadletter")
DEADLETTER_COUNTS = _g("stats:deadletter")  # hash: reason -> dead-letter entries
IGNORED_COUNTS = _g("stats:ignored")  # hash: reason -> messages ignored
ALERTS = _g("stream:alerts")  # history of alerts, trimmed by age
ALERTS_OPEN = _g("idx:alerts:open")  # zset alert id -> ts_ms
EVENTS = events()
# one entry per ingest batch that changed live state: the entities it changed ("unit:U-1 ..."),
# so a web process updates its picture by reading only those (services/picture.py)
LIVE_CHANGES = _g("stream:live:changes")
# The deployment's one live picture (store/picture_stream.py): the updates its builder made,
# the whole picture now and then (hash: token, seq, entry, body), and the lease of the web
# process that builds it (the others relay)
PICTURE = _g("stream:live:picture")
PICTURE_WHOLE = _g("live:picture:whole")
PICTURE_BUILDER = _g("live:picture:builder")
PICTURE_WANTED = _g("live:picture:wanted")  # a relay that missed updates asks for a whole picture


def geo(kind: EntityKind) -> str:
    """GEO index of the last known positions of every entity of a kind."""
    return _G + f"geo:{kind}s"


# A unit also sits in smaller GEO indexes, one per (kind, department) and per (kind, skill), so
# the dispatch query reads only units that could take the incident (store/dispatch.py). This
# hash lists them per unit ("profile_ts index index ..."), so the ingest scripts move the unit
# in each; it sits beside the indexes (not in the unit's state, another slot on a cluster) so
# that one step places a unit in all of them.
GEO_FACETS = _g("geo:facets")
# Hash "kind:id" -> "ts seq" of the position each entity has in the GEO indexes, kept where the
# indexes are written in a step after the entity's own (on a cluster): a worker placing an
# older position after another placed a newer one leaves it (store/scripts.PLACE)
GEO_AT = _g("geo:at")
# Hash unit id -> its coverage tracker (domain.coverage.TrackerState as JSON), beside the
# coverage keys it is written with in one step (store/coverage.py)
COVERAGE_TRACKERS = _g("cov:trackers")


def unit_geo_facet(kind: str, *, department: str | None = None, skill: str | None = None) -> str:
    """GEO index of the units of one kind and one department, or one kind and one skill
    (an incident type). The caller passes validated vocabulary, never free text."""
    if (department is None) == (skill is None):
        raise ValueError("name exactly one of department or skill")
    return _G + (
        f"geo:units:{kind}:dept:{department}"
        if skill is None
        else f"geo:units:{kind}:skill:{skill}"
    )


def index(kind: EntityKind) -> str:
    """Set of every known id of a kind (also those without a position yet)."""
    return _G + f"idx:{kind}s"


def state(kind: EntityKind, entity_id: str) -> str:
    """Hash of the entity's live state: profile fields and last position or reading."""
    return shard(entity_id) + f"{kind}:{{{entity_id}}}"


def seen(kind: EntityKind, entity_id: str) -> str:
    """Zset of recent message identities (score = message time), for redelivery dedupe."""
    return shard(entity_id) + f"{kind}:{{{entity_id}}}:seen"


def track(kind: EntityKind, entity_id: str) -> str:
    """Stream of the entity's positions or readings, trimmed by age."""
    return shard(entity_id) + f"{kind}:{{{entity_id}}}:track"


def live_keys(kind: EntityKind, entity_id: str) -> tuple[str, str, str]:
    """state, seen and track of one entity, its shard found once (the worker's hot path)."""
    base = shard(entity_id) + f"{kind}:{{{entity_id}}}"
    return base, base + ":seen", base + ":track"


def alert(alert_id: str) -> str:
    return _G + f"alert:{{{alert_id}}}"


AIS_FRAGMENTS_PENDING = _g("ais:frag:pending")  # zset group key -> deadline ms
_FRAG_PREFIX, _FRAG_SUFFIX = _g("ais:frag:{"), "}"


def ais_fragments(group_key: str) -> str:
    """Hash index -> NMEA line of a multi-part AIS message still waiting for its other parts."""
    return f"{_FRAG_PREFIX}{group_key}{_FRAG_SUFFIX}"


def ais_fragments_affixes() -> tuple[str, str]:
    """Prefix and suffix around a group key, for the Lua sweep that rebuilds the key names."""
    return _FRAG_PREFIX, _FRAG_SUFFIX


# The vessel watch (ingest/vessel_watch.py, domain/vessel_rules.py): zsets the ingest path adds
# to with one ZADD per batch and the worker scans each second.
VESSELS_WATCHED = _g("vessels:watch")  # mmsi -> last heard (server ms), under way near the district
VESSELS_DARK = _g("vessels:dark")  # mmsi -> last heard (server ms) before its AIS gap began
VESSELS_LOITER = _g(
    "vessels:loiter"
)  # "mmsi|zone" -> when first heard slow in the zone (server ms)
VESSELS_TRAWLING = _g("vessels:trawling")  # mmsi -> heard at trawling speed in the moratorium


# Accounts and server-side sessions. A user's name is validated (store/users.py) so it never
# holds braces; the hash tag keeps a user's record in one Cluster slot.
USERS = _g("idx:users")  # set of account names


def user(name: str) -> str:
    """Hash of an account: role, argon2id password hash, created_ms."""
    return _G + f"user:{{{name}}}"


def session(sid: str) -> str:
    """Hash of a signed-in session (user, created_ms) that expires with the session; deleting it
    ends the session on the server whatever the browser still holds."""
    return _G + f"session:{{{sid}}}"


def login_failures(kind: str, ident: str, addr: str = "") -> str:
    """Counter of recent failed sign-ins, expiring: per client `addr`, per `account` (from any
    address) or, with `addr`, per account from that address (in the account's slot, so one
    script counts both)."""
    return _G + f"loginfail:{kind}:{{{ident}}}" + (f":{addr}" if addr else "")


def login_lock(kind: str, ident: str, addr: str = "") -> str:
    """Present while sign-ins from an address, or for an account from an address, must wait;
    its TTL is the wait."""
    return _G + f"loginlock:{kind}:{{{ident}}}" + (f":{addr}" if addr else "")


def user_tokens(name: str) -> str:
    """Hash of an account's API tokens: token id -> SHA-256 of the token (to revoke them all)."""
    return _G + f"user:{{{name}}}:tokens"


def api_token(digest: str) -> str:
    """Hash (user, id, created_ms, account_ms) of one API token, found by the token's SHA-256:
    the token itself is never stored."""
    return _G + f"apitoken:{{{digest}}}"


# Wall screens' sessions (services/walls.py): a record per issue, its one-time sign-in link.
WALLS = _g("idx:walls")  # zset wall id -> issued_ms


def wall(wall_id: str) -> str:
    """Hash of one wall screen's session: screen, by, issued_ms, link_until_ms, link (the
    one-time code's SHA-256 until it is used), sid, signed_in_ms, expires_ms, revoked_ms,
    revoked_by. The session itself is `session:{sid}`, whose user is `wall:{id}`."""
    return _G + f"wall:{{{wall_id}}}"


def wall_link(digest: str) -> str:
    """The wall id a one-time sign-in code opens (found by the code's SHA-256; expires)."""
    return _G + f"wall:link:{{{digest}}}"


# Incidents (cases). The record and its timeline share a hash tag; a unit's current task shares
# the unit's tag (see docs/architecture.md for what assignment across slots means on a cluster).
INCIDENTS = _g("idx:incidents")  # zset id -> created_ms: every incident
INCIDENTS_OPEN = _g(
    "idx:incidents:open"
)  # zset id -> created_ms: not closed, rejected, transferred
OUTBOX = _g("stream:outbox")  # dispatch notices waiting to be published to units over MQTT
OUTBOX_GROUP = "publishers"  # the consumer group of the workers that publish them


def incident(incident_id: str) -> str:
    """Hash of an incident: type, source, domain, priority, location, state, units, ..."""
    return _G + f"incident:{{{incident_id}}}"


def incident_timeline(incident_id: str) -> str:
    """Stream of the incident's transitions (from, to, by, at_ms, reason), never trimmed."""
    return _G + f"incident:{{{incident_id}}}:timeline"


def incident_notes(incident_id: str) -> str:
    """Stream of the notes and evidence added to an incident (kind, by, at_ms, ...), never
    trimmed; apart from the timeline so that a replay of transitions sees only transitions."""
    return _G + f"incident:{{{incident_id}}}:notes"


def incident_sequence(day: str) -> str:
    """Counter of the incidents opened on a local (Shenzhen) day (YYYYMMDD), for readable ids."""
    return _G + f"seq:incidents:{day}"


def unit_task(unit_id: str) -> str:
    """Hash of the incident a unit is assigned to (incident, priority, assigned_ms, by)."""
    return _G + f"unit:{{{unit_id}}}:task"


# Patrol coverage (store/coverage.py). Places and hexagons are ids from config/coverage and h3;
# kinds and departments are validated vocabulary, so none of them holds a "|" or a brace.
COVERAGE_LAST = _g("cov:last")  # zset place -> last visit ms (ZADD GT: never goes back)
COVERAGE_LAST_BY = _g("cov:last:by")  # hash place -> unit id of that visit
COVERAGE_OWNERS = _g("cov:owners")  # hash place -> responsible person set by an admin
PATROL_LOGS = _g("stream:patrol-logs")  # checked patrol logs with their flags, trimmed by age


def patrol_log_seen(unit_id: str, ts: int) -> str:
    """Marker of a patrol log already checked (a redelivered log is kept once)."""
    return _G + f"unit:{{{unit_id}}}:patrol-log:{ts}"


def coverage_last(kind: str, department: str) -> str:
    """Zset place -> last visit ms by units of one kind and department (the page's filters)."""
    return _G + f"cov:last:{kind}:{department}"


def coverage_day(day: str) -> str:
    """Zset "place|kind|department" -> last visit ms on a local day (YYYYMMDD): the trend."""
    return _G + f"cov:day:{day}"


def coverage_presence_day(day: str) -> str:
    """The same per local day (YYYYMMDD): what the day and week windows read."""
    return _G + f"cov:presence:day:{day}"


def coverage_presence(hour: str) -> str:
    """Hash "hexagon|kind|department" -> seconds of patrol presence in a UTC hour
    (YYYYMMDDHH): the heatmap."""
    return _G + f"cov:presence:{hour}"


# Hash local day (YYYYMMDD) -> the first heartbeat of a worker that day (epoch ms): the days
# the system ran. A KPI day counts when the system ran (this, or a closed-day row); a day it
# did not run is "no data", never 0 % (issue 17).
RAN_DAYS = _g("system:ran_days")


def kpi_day(day: str) -> str:
    """Hash of a closed local day's figures that Redis does not keep raw for long (units on
    duty per hour, water-quality day rows): fields on_duty, water (JSON), closed_ms, source."""
    return _G + f"kpi:day:{day}"


def kpi_day_closing(day: str) -> str:
    """Present (with a time to live) while one worker closes a local day (YYYYMMDD): with
    several workers, the day's rows are computed and written once, and its retention erasure
    recorded once."""
    return _G + f"kpi:day:{day}:closing"


def kpi_incidents(day: str) -> str:
    """Hash of the incident figures' additive tables for the incidents created on a local day
    (store/kpi_incident_days.py): tables (JSON), live (ids still open or not of the day, read
    raw), members (how many incidents the day had), rules, format, stamp, built_ms."""
    return _G + f"kpi:incidents:{day}"


# The broker's roster of field devices and service accounts (store/devices.py), and what the
# embedded broker hands to the worker. Device ids never hold braces (domain.devices.ID_RE).
DEVICES = _g("idx:devices")  # set of device ids
# a new random value at every change (never a counter: one that restarted after a flush could
# repeat the value a broker last read): the broker re-reads the roster when it differs
DEVICES_VERSION = _g("devices:version")
MQTT_REFUSED = _g("stats:mqtt:refused")  # hash "identity|reason" -> count, kept by the broker
# every accepted message, written before the broker's PUBACK; and what an officer's phone sends
# over HTTPS (store/field.py), read by every worker whatever its INGEST_SOURCE
INGEST_INBOX = _g("stream:inbox")
INGEST_INBOX_GROUP = "ingest"  # the consumer group of the workers that read the inbox


def device(device_id: str) -> str:
    """Hash of a device: kind, secret (mosquitto's PBKDF2 hash), created_ms, revoked_ms."""
    return _G + f"device:{{{device_id}}}"


# The audit log (store/audit.py, domain/audit.py): one chain per retention class, each chain's
# keys under one hash tag, so that appending (one script) stays in one slot of a cluster.
def audit_head(chain: str) -> str:
    """Hash of the chain's last entry: seq, hash, day."""
    return _G + f"audit:{{{chain}}}:head"


def audit_days(chain: str) -> str:
    """Zset of the local days (YYYYMMDD, also the score) that hold entries."""
    return _G + f"audit:{{{chain}}}:days"


def audit_day(chain: str, day: str) -> str:
    """List of a day's entries (canonical JSON), in chain order."""
    return _G + f"audit:{{{chain}}}:day:{day}"


def audit_heads(chain: str) -> str:
    """List of the chain's signed heads (JSON), oldest first."""
    return _G + f"audit:{{{chain}}}:heads"


def audit_ref(chain: str, ref: str) -> str:
    """List of "day:index" of the entries whose actor or object is `ref` (a trail)."""
    return _G + f"audit:{{{chain}}}:ref:{ref}"


def audit_signer(chain: str) -> str:
    """A short lock: one process signs a chain's head per period."""
    return _G + f"audit:{{{chain}}}:signer"


# -- citizen reports (store/reports.py) -----------------------------------------------------

REPORTS_ALL = _g("report:recent")  # zset "ms:random" -> ms: every report accepted, the last hour


def report_challenge(challenge: str) -> str:
    """A proof-of-work challenge handed out and not used yet (TTL)."""
    return _G + f"report:challenge:{challenge}"


def report_recent(addr: str) -> str:
    """zset: the reports accepted from one address, the last hour."""
    return _G + f"report:recent:{addr}"


def report_tracking(code: str) -> str:
    """A citizen's tracking code -> the incident it follows (the one it opened, or the one that
    was merged into)."""
    return _G + f"report:track:{code}"


def report_codes(incident_id: str) -> str:
    """set: the tracking codes that follow an incident."""
    return _G + f"report:codes:{incident_id}"


# The field app (store/field.py): what an officer's phone sent, kept once per idempotency key.
FIELD_STATS = _g("stats:field")  # hash "kind|outcome" -> count (relayed, duplicate)


def field_taking(unit_id: str, key: str) -> str:
    """string, expires: a request is taking the action of this key now (a resend from another
    tab, or a retry of a request still running, waits for it: services/field.py)."""
    return _G + f"field:taking:{{{unit_id}}}:{key}"


def field_once(unit_id: str, key: str) -> str:
    """string, expires: an action a phone sent with this idempotency key was taken; a resend
    (the phone queued it offline, or never saw the answer) gets this outcome back."""
    return _G + f"field:once:{{{unit_id}}}:{key}"


def unit_messages(unit_id: str) -> str:
    """stream: the messages between the centre and a unit, both ways (dir to_unit / from_unit,
    by, text, at_ms), the last 1,000 kept; the record of each is in the audit log."""
    return _G + f"unit:{{{unit_id}}}:messages"


def unit_messages_read(unit_id: str) -> str:
    """hash: message id -> when the unit's phone showed it (ms)."""
    return _G + f"unit:{{{unit_id}}}:messages:read"


FIELD_WAKE = _g("stream:field:wake")  # unit ids whose phone should look again now (messages)


def archive_hours(kind: EntityKind) -> str:
    """hash: UTC hour start (ms) -> "rows min_ts max_ts" of the hour of a kind's track entries
    (by arrival) written to the Parquet archive (store/archive.py); rows 0: nothing that hour."""
    return _G + f"archive:{kind}:hours"


ARCHIVE_LOCK = _g(
    "archive:lock"
)  # string (TTL): the worker writing the archive now (one at a time)
