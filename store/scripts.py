"""Lua scripts that make each ingest write atomic: dedupe, order check and update in one step.

A script runs whole or not at all inside Redis, so two workers (or a redelivery racing the
original) can never interleave between "is this newer?" and "write it". Each script also counts
its outcome (applied / duplicate / stale / alerts) in the same atomic step, so the counters stay
exact even when a worker dies between two round trips.
"""

from store.keys import GEO_FACETS_FIELD

# Position or reading of an entity. Every GEO index the entity is in moves with it: the main one
# and those its state lists in the facets field (keys.GEO_FACETS_FIELD: space-separated keys of
# the units' dispatch indexes; global keys, so this assumes one Redis node, as the GEO sets do).
# KEYS: state, seen, track, geo, version, index, stats
# ARGV: id, ts, seq, identity, track_minid, seen_keep, lon, lat, n_state, state..., track...
# Returns 0 duplicate (identity already seen), 1 applied as latest, 2 history only (older).
APPLY_OBSERVATION = """
local id, ts, seq, identity = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
if redis.call('ZSCORE', KEYS[2], identity) then
  redis.call('HINCRBY', KEYS[7], 'duplicate', 1)
  return 0
end
redis.call('ZADD', KEYS[2], ts, identity)
local keep = tonumber(ARGV[6])
local n = redis.call('ZCARD', KEYS[2])
if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - keep - 1) end
local nstate = tonumber(ARGV[9])
local state = {}
for i = 10, 9 + 2 * nstate do state[#state + 1] = ARGV[i] end
local trk = {'XADD', KEYS[3], 'MINID', '~', ARGV[5], '*'}
for i = 10 + 2 * nstate, #ARGV do trk[#trk + 1] = ARGV[i] end
if #trk > 6 then redis.call(unpack(trk)) end
redis.call('SADD', KEYS[6], id)
local cur = redis.call('HMGET', KEYS[1], 'ts', 'seq')
local cts, cseq = tonumber(cur[1]), tonumber(cur[2]) or -1
if cts and (ts < cts or (ts == cts and seq <= cseq)) then
  redis.call('HINCRBY', KEYS[7], 'stale', 1)
  return 2
end
redis.call('HSET', KEYS[1], 'ts', ARGV[2], 'seq', ARGV[3], unpack(state))
if ARGV[7] ~= '' then
  redis.call('GEOADD', KEYS[4], ARGV[7], ARGV[8], id)
  local facets = redis.call('HGET', KEYS[1], '$FACETS')
  if facets then
    for f in string.gmatch(facets, '%S+') do redis.call('GEOADD', f, ARGV[7], ARGV[8], id) end
  end
end
redis.call('INCR', KEYS[5])
redis.call('HINCRBY', KEYS[7], 'applied', 1)
return 1
"""

# Profile or status: fields that replace older ones, ordered by their own timestamp field.
# A facets list (ARGV[8], "-" to leave them) moves the entity out of its old indexes into these.
# KEYS: state, version, index, events, geo, stats
# ARGV: id, order_field, ts, events_minid, event_type, lon, lat, facets, pairs...
# Returns 0 duplicate (same time), 1 applied, 2 stale (older than what is stored).
APPLY_IF_NEWER = """
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[2]))
local ts = tonumber(ARGV[3])
if cur and ts == cur then redis.call('HINCRBY', KEYS[6], 'duplicate', 1); return 0 end
if cur and ts < cur then redis.call('HINCRBY', KEYS[6], 'stale', 1); return 2 end
redis.call('HINCRBY', KEYS[6], 'applied', 1)
local pairs = {}
for i = 9, #ARGV do pairs[#pairs + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3], unpack(pairs))
redis.call('SADD', KEYS[3], ARGV[1])
if ARGV[6] ~= '' then redis.call('GEOADD', KEYS[5], ARGV[6], ARGV[7], ARGV[1]) end
if ARGV[8] ~= '-' then
  local old = redis.call('HGET', KEYS[1], '$FACETS')
  if old then
    for f in string.gmatch(old, '%S+') do redis.call('ZREM', f, ARGV[1]) end
  end
  redis.call('HSET', KEYS[1], '$FACETS', ARGV[8])
  local pos = redis.call('GEOPOS', KEYS[5], ARGV[1])[1]
  if pos then
    for f in string.gmatch(ARGV[8], '%S+') do redis.call('GEOADD', f, pos[1], pos[2], ARGV[1]) end
  end
end
redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[4], 'MINID', '~', ARGV[4], '*', 'type', ARGV[5], 'id', ARGV[1],
  'ts', ARGV[3], unpack(pairs))
return 1
"""
APPLY_OBSERVATION = APPLY_OBSERVATION.replace("$FACETS", GEO_FACETS_FIELD)
APPLY_IF_NEWER = APPLY_IF_NEWER.replace("$FACETS", GEO_FACETS_FIELD)

# An alert, created once whatever the number of redeliveries.
# KEYS: alert hash, open index, alerts stream, version, stats
# ARGV: alert id, ts, alerts_minid, pairs...
RAISE_ALERT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[5], 'duplicate', 1)
  return 0
end
redis.call('HINCRBY', KEYS[5], 'alerts', 1)
local pairs = {}
for i = 4, #ARGV do pairs[#pairs + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'ts', ARGV[2], unpack(pairs))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[3], '*', 'id', ARGV[1], 'ts', ARGV[2],
  unpack(pairs))
redis.call('INCR', KEYS[4])
return 1
"""

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
