"""Lua scripts that make each ingest write atomic: dedupe, order check and update in one step.

A script runs whole or not at all inside Redis, so two workers (or a redelivery racing the
original) can never interleave between "is this newer?" and "write it". Each script also counts
its outcome (applied / duplicate / stale / alerts) in the same atomic step, so the counters stay
exact even when a worker dies between two round trips.
"""

# Where an entity is placed in the shared indexes: the GEO index of its kind and, for a unit,
# the dispatch indexes of its profile (keys.GEO_FACETS: "profile_ts index ..."). `S` is where
# the shared keys start in KEYS: version, overlays version, alerts open, alerts stream, geo unit
# / vessel / sensor, index unit / vessel / sensor, facets, placed-at. A position ('o') moves the
# entity in every index; with `checked` only if newer than the one it has there (keys.GEO_AT:
# the two-step path, where another worker's newer position may have been placed first). A
# profile ('f') may place a sensor, and files a unit anew when it names other indexes (an older
# profile than the one filed is left).
_PLACE_FN = """
local function facet_names(v)
  local out, first = {}, true
  for name in string.gmatch(v or '', '%S+') do
    if first then first = false else out[#out + 1] = name end
  end
  return out
end
local function place(S, checked, code, kind, id, ts, seq, lon, lat, facets)
  local geo = KEYS[S + 4 + kind]
  if code == 'o' then
    if lon == '' then return end
    if checked then
      local member = kind .. ':' .. id
      local at = redis.call('HGET', KEYS[S + 12], member)
      if at then
        local ats, aseq = string.match(at, '(%S+) (%S+)')
        ats, aseq = tonumber(ats), tonumber(aseq)
        if tonumber(ts) < ats or (tonumber(ts) == ats and tonumber(seq) < aseq) then return end
      end
      redis.call('HSET', KEYS[S + 12], member, ts .. ' ' .. seq)
    end
    redis.call('GEOADD', geo, lon, lat, id)
    if kind == 1 then
      for _, f in ipairs(facet_names(redis.call('HGET', KEYS[S + 11], id))) do
        redis.call('GEOADD', f, lon, lat, id)
      end
    end
    return
  end
  if lon ~= '' then redis.call('GEOADD', geo, lon, lat, id) end
  if facets == '-' then return end
  local cur = redis.call('HGET', KEYS[S + 11], id)
  if cur and tonumber(ts) < tonumber(string.match(cur, '^(%S+)')) then return end
  for _, f in ipairs(facet_names(cur)) do redis.call('ZREM', f, id) end
  redis.call('HSET', KEYS[S + 11], id, ts .. ' ' .. facets)
  local pos = redis.call('GEOPOS', geo, id)[1]
  if pos then
    for f in string.gmatch(facets, '%S+') do redis.call('GEOADD', f, pos[1], pos[2], id) end
  end
end
"""

# A batch of the ingest worker's writes in one script call: positions and readings, profile and
# status changes, alerts, in the batch's order. One call per batch instead of one per message is
# most of the worker's Redis time saved (Lua call set-up, key checks, reply framing), and the
# counters and versions are written once per call, not once per operation. Every operation
# keeps its own rules, whole inside the one atomic script:
#   o  position or reading: deduped by identity (the seen zset, its newest `seen_keep` kept),
#      kept in the track, latest by (ts, seq). Verdict 0 duplicate, 1 applied as latest, 2
#      history only (older).
#   f  profile or status: fields replacing older ones, ordered by their own time field; an entry
#      in the group's events stream. Verdict 0 duplicate (same time), 1 applied, 2 stale.
#   a  an alert, created once whatever the number of redeliveries. Verdict 1 raised, 0 known.
# A call's keys are of one group: on one node every key (the call is `inline`: it also places
# what it applied in the shared indexes, as _PLACE_FN, in the same step); on a cluster the keys
# of one shard, whose call answers what PLACE must then place (its operations applied, and its
# duplicates that were the latest: a worker that died between the two steps left them
# unplaced, and their redelivery places them), or the shared keys for alerts.
# KEYS: the group's stats, the group's events stream; inline: the shared keys (_PLACE_FN); then
#       per operation: o state, seen, track; f state; a the alert's hash
# ARGV: minid (the streams' trim), seen_keep, inline (0/1), the operations: one JSON array of
#   one array each (every value a string but `kind`; pairs: field, value, field, value ...):
#   ["o", kind (1 unit, 2 vessel, 3 sensor), id, ts, seq, identity, lon, lat, state pairs,
#     track pairs]
#   ["f", kind, id, order_field, ts, event_type, lon, lat, facets, pairs]
#   ["a", id, ts, pairs]
# One argument for all of them: Redis reads one string instead of ~35 an operation (~4-5 us
# an operation to decode, against ~11 us for the arguments), and the worker's client packs one.
# Returns {verdicts in order, places (8 values each: code, kind, id, ts, seq, lon, lat, facets)}.
APPLY_BATCH = (
    _PLACE_FN
    + """
local minid, keep, inline = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local S = 2
local verdicts, places = {}, {}
local count = {applied = 0, duplicate = 0, stale = 0, alerts = 0}
local moved, raised = 0, 0
local k = inline and 15 or 3
local function later(...)
  for _, v in ipairs({...}) do places[#places + 1] = v end
end
local function observe(op)
  local kind, id, ts, seq, identity = op[2], op[3], op[4], op[5], op[6]
  local lon, lat, state, track = op[7], op[8], op[9], op[10]
  local st, seen, trk = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  k = k + 3
  if redis.call('ZADD', seen, 'NX', ts, identity) == 0 then
    if not inline then
      local cur = redis.call('HMGET', st, 'ts', 'seq')
      if cur[1] == ts and cur[2] == seq then later('o', kind, id, ts, seq, lon, lat, '-') end
    end
    return 0
  end
  redis.call('ZREMRANGEBYRANK', seen, 0, -keep - 1)
  if #track > 0 then
    local x = {'XADD', trk, 'MINID', '~', minid, '*'}
    for _, v in ipairs(track) do x[#x + 1] = v end
    redis.call(unpack(x))
  end
  local cur = redis.call('HMGET', st, 'ts', 'seq')
  local cts, cseq = tonumber(cur[1]), tonumber(cur[2]) or -1
  -- a hash with a time is in the index already (every write that creates one adds it there)
  if inline and not cts then redis.call('SADD', KEYS[S + 7 + kind], id) end
  local t, sq = tonumber(ts), tonumber(seq)
  if cts and (t < cts or (t == cts and sq <= cseq)) then return 2 end
  redis.call('HSET', st, 'ts', ts, 'seq', seq, unpack(state))
  if inline then place(S, false, 'o', kind, id, ts, seq, lon, lat, '-')
  else later('o', kind, id, ts, seq, lon, lat, '-') end
  moved = moved + 1
  return 1
end
local function replace(op)
  local kind, id, field, ts, event_type = op[2], op[3], op[4], op[5], op[6]
  local lon, lat, facets, p = op[7], op[8], op[9], op[10]
  local st = KEYS[k]
  k = k + 1
  local cur = tonumber(redis.call('HGET', st, field))
  local t = tonumber(ts)
  if cur and t == cur then
    if not inline then later('f', kind, id, ts, 0, lon, lat, facets) end
    return 0
  end
  if cur and t < cur then return 2 end
  redis.call('HSET', st, field, ts, unpack(p))
  redis.call('XADD', KEYS[2], 'MINID', '~', minid, '*', 'type', event_type, 'id', id, 'ts', ts,
    unpack(p))
  if inline then
    redis.call('SADD', KEYS[S + 7 + kind], id)
    place(S, false, 'f', kind, id, ts, 0, lon, lat, facets)
  else
    later('f', kind, id, ts, 0, lon, lat, facets)
  end
  moved = moved + 1
  return 1
end
local function alert(op)
  local id, ts, p = op[2], op[3], op[4]
  local h = KEYS[k]
  k = k + 1
  if redis.call('EXISTS', h) == 1 then return 0 end
  redis.call('HSET', h, 'id', id, 'ts', ts, unpack(p))
  redis.call('ZADD', KEYS[S + 3], ts, id)
  redis.call('XADD', KEYS[S + 4], 'MINID', '~', minid, '*', 'id', id, 'ts', ts, unpack(p))
  raised = raised + 1
  return 1
end
local verdict_names = {[0] = 'duplicate', [1] = 'applied', [2] = 'stale'}
for _, op in ipairs(cjson.decode(ARGV[4])) do
  local code, v = op[1]
  if code == 'o' then
    v = observe(op)
    count[verdict_names[v]] = count[verdict_names[v]] + 1
  elseif code == 'f' then
    v = replace(op)
    count[verdict_names[v]] = count[verdict_names[v]] + 1
  else
    v = alert(op)
    if v == 1 then count.alerts = count.alerts + 1 else count.duplicate = count.duplicate + 1 end
  end
  verdicts[#verdicts + 1] = v
end
for name, n in pairs(count) do
  if n > 0 then redis.call('HINCRBY', KEYS[1], name, n) end
end
if inline and moved > 0 then redis.call('INCRBY', KEYS[S + 1], moved) end
if raised > 0 then redis.call('INCRBY', KEYS[S + 2], raised) end
return {verdicts, places}
"""
)

# The second step of a batch on a cluster: places in the shared indexes what the shards' calls
# of APPLY_BATCH answered, in one atomic step of the shared slot, checked against what each
# entity has there (a newer position placed first by another worker stays). Every entity is
# also (again) in its kind's index. KEYS: the shared keys (_PLACE_FN). ARGV: places (8 each).
PLACE = (
    _PLACE_FN
    + """
local n = 0
for i = 1, #ARGV, 8 do
  local kind = tonumber(ARGV[i + 1])
  redis.call('SADD', KEYS[7 + kind], ARGV[i + 2])
  place(0, true, ARGV[i], kind, ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5],
    ARGV[i + 6], ARGV[i + 7])
  n = n + 1
end
if n > 0 then redis.call('INCRBY', KEYS[1], n) end
return n
"""
)

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
