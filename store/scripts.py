"""Lua scripts that make each ingest write atomic: dedupe, order check and update in one step.

A script runs whole or not at all inside Redis, so two workers (or a redelivery racing the
original) can never interleave between "is this newer?" and "write it". Each script also counts
its outcome (applied / duplicate / stale / alerts) in the same atomic step, so the counters stay
exact even when a worker dies between two round trips.
"""

from store.keys import GEO_FACETS_FIELD

# A batch of the ingest worker's writes in one script call: positions and readings, profile and
# status changes, alerts, in the batch's order. One call per batch instead of one per message is
# most of the worker's Redis time saved (Lua call set-up, key checks, reply framing), and the
# counters, the versions and the global keys are written once per call, not once per operation.
# Every operation keeps its own rules, whole inside the one atomic script:
#   o  position or reading: deduped by identity (the seen zset, its newest `seen_keep` kept),
#      kept in the track, latest by (ts, seq). Every GEO index the entity is in moves with it:
#      the main one and those its state lists in the facets field (keys.GEO_FACETS_FIELD:
#      space-separated keys of the units' dispatch indexes). Verdict 0 duplicate, 1 applied as
#      latest, 2 history only (older).
#   f  profile or status: fields replacing older ones, ordered by their own time field; a facets
#      list ("-" to leave them) moves the entity out of its old indexes into these; an entry in
#      the events stream. Verdict 0 duplicate (same time), 1 applied, 2 stale.
#   a  an alert, created once whatever the number of redeliveries. Verdict 1 raised, 0 known.
# KEYS: version, overlays version, stats, events, alerts open, alerts stream, geo unit / vessel /
#       sensor, index unit / vessel / sensor; then per operation: o state, seen, track;
#       f state; a the alert's hash
# ARGV: minid (the streams' trim), seen_keep, then per operation:
#   o kind(1 unit, 2 vessel, 3 sensor), id, ts, seq, identity, lon, lat, n_state, n_track,
#     state pairs, track pairs
#   f kind, id, order_field, ts, event_type, lon, lat, facets, n_pairs, pairs
#   a id, ts, n_pairs, pairs
# Returns the verdicts, in order. The global keys are single keys on one node (the GEO facets
# too): docs/architecture.md says what a cluster needs instead.
APPLY_BATCH = """
local minid, keep = ARGV[1], tonumber(ARGV[2])
local verdicts = {}
local count = {applied = 0, duplicate = 0, stale = 0, alerts = 0}
local moved, raised = 0, 0
local k, a = 13, 3
local function pairs_at(from, n)
  local t = {}
  for i = from, from + 2 * n - 1 do t[#t + 1] = ARGV[i] end
  return t
end
local function observe(b)
  local kind, id, ts, seq, identity = tonumber(ARGV[b + 1]), ARGV[b + 2], tonumber(ARGV[b + 3]),
    tonumber(ARGV[b + 4]), ARGV[b + 5]
  local lon, lat, ns, nt = ARGV[b + 6], ARGV[b + 7], tonumber(ARGV[b + 8]), tonumber(ARGV[b + 9])
  local st, seen, trk = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  k, a = k + 3, b + 10 + 2 * (ns + nt)
  if redis.call('ZADD', seen, 'NX', ts, identity) == 0 then return 0 end
  redis.call('ZREMRANGEBYRANK', seen, 0, -keep - 1)
  if nt > 0 then
    local x = {'XADD', trk, 'MINID', '~', minid, '*'}
    for i = b + 10 + 2 * ns, a - 1 do x[#x + 1] = ARGV[i] end
    redis.call(unpack(x))
  end
  local cur = redis.call('HMGET', st, 'ts', 'seq', '$FACETS')
  local cts, cseq = tonumber(cur[1]), tonumber(cur[2]) or -1
  -- a hash with a time is in the index already (every write that creates one adds it there)
  if not cts then redis.call('SADD', KEYS[9 + kind], id) end
  if cts and (ts < cts or (ts == cts and seq <= cseq)) then return 2 end
  redis.call('HSET', st, 'ts', ARGV[b + 3], 'seq', ARGV[b + 4], unpack(pairs_at(b + 10, ns)))
  if lon ~= '' then
    redis.call('GEOADD', KEYS[6 + kind], lon, lat, id)
    if cur[3] then
      for f in string.gmatch(cur[3], '%S+') do redis.call('GEOADD', f, lon, lat, id) end
    end
  end
  moved = moved + 1
  return 1
end
local function replace(b)
  local kind, id, field, ts = tonumber(ARGV[b + 1]), ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local lon, lat, facets, np = ARGV[b + 6], ARGV[b + 7], ARGV[b + 8], tonumber(ARGV[b + 9])
  local st = KEYS[k]
  k, a = k + 1, b + 10 + 2 * np
  local cur = tonumber(redis.call('HGET', st, field))
  local t = tonumber(ts)
  if cur and t == cur then return 0 end
  if cur and t < cur then return 2 end
  local p = pairs_at(b + 10, np)
  redis.call('HSET', st, field, ts, unpack(p))
  redis.call('SADD', KEYS[9 + kind], id)
  local geo = KEYS[6 + kind]
  if lon ~= '' then redis.call('GEOADD', geo, lon, lat, id) end
  if facets ~= '-' then
    local old = redis.call('HGET', st, '$FACETS')
    if old then
      for f in string.gmatch(old, '%S+') do redis.call('ZREM', f, id) end
    end
    redis.call('HSET', st, '$FACETS', facets)
    local pos = redis.call('GEOPOS', geo, id)[1]
    if pos then
      for f in string.gmatch(facets, '%S+') do redis.call('GEOADD', f, pos[1], pos[2], id) end
    end
  end
  redis.call('XADD', KEYS[4], 'MINID', '~', minid, '*', 'type', ARGV[b + 5], 'id', id, 'ts', ts,
    unpack(p))
  moved = moved + 1
  return 1
end
local function alert(b)
  local id, ts, np = ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local h = KEYS[k]
  k, a = k + 1, b + 4 + 2 * np
  if redis.call('EXISTS', h) == 1 then return 0 end
  local p = pairs_at(b + 4, np)
  redis.call('HSET', h, 'id', id, 'ts', ts, unpack(p))
  redis.call('ZADD', KEYS[5], ts, id)
  redis.call('XADD', KEYS[6], 'MINID', '~', minid, '*', 'id', id, 'ts', ts, unpack(p))
  raised = raised + 1
  return 1
end
local verdict_names = {[0] = 'duplicate', [1] = 'applied', [2] = 'stale'}
while a <= #ARGV do
  local code, v = ARGV[a]
  if code == 'o' then
    v = observe(a)
    count[verdict_names[v]] = count[verdict_names[v]] + 1
  elseif code == 'f' then
    v = replace(a)
    count[verdict_names[v]] = count[verdict_names[v]] + 1
  else
    v = alert(a)
    if v == 1 then count.alerts = count.alerts + 1 else count.duplicate = count.duplicate + 1 end
  end
  verdicts[#verdicts + 1] = v
end
for name, n in pairs(count) do
  if n > 0 then redis.call('HINCRBY', KEYS[3], name, n) end
end
if moved > 0 then redis.call('INCRBY', KEYS[1], moved) end
if raised > 0 then redis.call('INCRBY', KEYS[2], raised) end
return verdicts
"""
APPLY_BATCH = APPLY_BATCH.replace("$FACETS", GEO_FACETS_FIELD)

# One part of a multi-part AIS message. Returns the group's lines (index order) once complete.
# KEYS: fragment hash, pending zset. ARGV: index, total, line, deadline_ms, group key, ttl_s
# The pending zset lets the worker dead-letter groups whose other parts never came; the TTL
# is only a safety net for when no worker sweeps.
ADD_FRAGMENT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local total = tonumber(ARGV[2])
local out = {}
if redis.call('HLEN', KEYS[1]) >= total then
  for i = 1, total do
    local line = redis.call('HGET', KEYS[1], tostring(i))
    if not line then out = {}; break end
    out[#out + 1] = line
  end
end
if #out == total then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[5])
  return out
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[5])
return {}
"""

# Groups past their deadline: removed and returned as {group, n, line1..n, group, n, ...}.
# KEYS: pending zset. ARGV: now_ms, limit, fragment key prefix, fragment key suffix
SWEEP_FRAGMENTS = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, group in ipairs(due) do
  local key = ARGV[3] .. group .. ARGV[4]
  local lines = redis.call('HVALS', key)
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], group)
  out[#out + 1] = group
  out[#out + 1] = #lines
  for _, line in ipairs(lines) do out[#out + 1] = line end
end
return out
"""

# An operator acknowledges an open alert ("seen, someone is on it"); the first one counts.
# KEYS: alert hash, open index, events stream, version. ARGV: alert id, user, now_ms, events_minid
# Returns 1 acknowledged, 2 already acknowledged, 0 not open.
ACK_ALERT = """
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
if redis.call('HEXISTS', KEYS[1], 'ack_by') == 1 then return 2 end
redis.call('HSET', KEYS[1], 'ack_by', ARGV[2], 'ack_ms', ARGV[3])
redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[4], '*', 'type', 'alert_ack', 'id', ARGV[1],
  'by', ARGV[2], 'ts', ARGV[3])
redis.call('INCR', KEYS[4])
return 1
"""

# A duty chief closes an open alert: it leaves the open index, keeping who, when and why.
# KEYS as ACK_ALERT. ARGV: alert id, user, now_ms, events_minid, reason
# Returns 1 closed, 0 not open.
CLOSE_ALERT = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'closed_by', ARGV[2], 'closed_ms', ARGV[3], 'close_reason', ARGV[5])
redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[4], '*', 'type', 'alert_close', 'id', ARGV[1],
  'by', ARGV[2], 'ts', ARGV[3], 'reason', ARGV[5])
redis.call('INCR', KEYS[4])
return 1
"""

# Sign-in admission (store/users.py): checked and counted in one step, so parallel attempts
# cannot all pass the check before any is counted. An attempt is counted as a failure when it
# is admitted; a correct password takes its count back.
# KEYS: [1] failures of the scope (an address, or an account from an address), [2] its lock,
#       [3] (optional) failures of the whole account, from any address
# ARGV: max failures, window s, first lock s, cap s
# Returns {admitted 0/1, wait s or whether this attempt set the lock}.
LOGIN_ADMIT = """
local wait = redis.call('TTL', KEYS[2])
if wait > 0 then return {0, wait} end
local max = tonumber(ARGV[1])
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local crowd = 0
if KEYS[3] then
  crowd = redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
if n >= max or crowd >= max then
  local lock = tonumber(ARGV[3]) * 2 ^ math.min(math.max(n - max, 0), 16)
  lock = math.max(1, math.floor(math.min(lock, tonumber(ARGV[4]))))
  redis.call('SET', KEYS[2], '1', 'EX', lock)
  return {1, 1}
end
return {1, 0}
"""

# A correct password from an address: its record on the account is cleared and its failures
# are taken out of the account's count (they were the owner's own typos, not an attack).
# KEYS: failures of the account from the address, its lock, failures of the whole account
LOGIN_RELEASE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('DEL', KEYS[1], KEYS[2])
if n > 0 then redis.call('DECRBY', KEYS[3], n) end
return n
"""
