"""Lua scripts for incidents: each check-and-write is one atomic step in Redis.

Which transitions are legal is decided by `domain/incidents.py`; the caller passes the states a
target may be reached from, and the script checks them against the state *at that moment*, so two
dispatchers (or a dispatcher and a unit's report) can never both act on the same old state.
Optimistic checks on the incident's unit list make the caller re-read and retry when it moved.

Return values are arrays: {code, detail}. Codes: 1 done; 0 not allowed from the current state
(detail = current state); -1 no such incident; -2 the unit list changed (re-read and retry);
-3 a unit is busy on another incident (detail = unit id); -4 the incident already exists;
-5 the reporting unit is not on the incident.
"""

# A note or a piece of evidence, on an incident that exists (in any state: a closed case may
# still get its report). KEYS: incident, notes, version. ARGV: kind, by, at_ms, pairs...
NOTE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, ''} end
local pairs = {}
for i = 4, #ARGV do pairs[#pairs + 1] = ARGV[i] end
local entry = redis.call('XADD', KEYS[2], '*', 'kind', ARGV[1], 'by', ARGV[2],
  'at_ms', ARGV[3], unpack(pairs))
redis.call('INCR', KEYS[3])
return {1, entry}
"""

# A past incident with its whole history at once (simulated history, an import from another
# system): no unit is booked and no notice is sent. The history was checked by the caller
# (domain Timeline.replay). KEYS: incident, timeline, all-index, open-index, version.
# ARGV: id, created_ms, open (0/1), n_steps, then per step from, to, by, at_ms, reason, extra,
# then field/value pairs of the record.
IMPORT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {-4, ARGV[1]} end
local n = tonumber(ARGV[4])
for i = 0, n - 1 do
  local b = 5 + i * 6
  redis.call('XADD', KEYS[2], '*', 'from', ARGV[b], 'to', ARGV[b + 1], 'by', ARGV[b + 2],
    'at_ms', ARGV[b + 3], 'reported_ms', ARGV[b + 3], 'reason', ARGV[b + 4],
    'extra', ARGV[b + 5])
end
local pairs = {}
for i = 5 + n * 6, #ARGV do pairs[#pairs + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'id', ARGV[1], unpack(pairs))
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
if ARGV[3] == '1' then redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1]) end
redis.call('INCR', KEYS[5])
return {1, ARGV[1]}
"""

# KEYS: incident, timeline, all-index, open-index, version
# ARGV: id, at_ms, by, reason, then field/value pairs
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {-4, ARGV[1]} end
local pairs = {}
for i = 5, #ARGV do pairs[#pairs + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state', 'reported', 'state_ms', ARGV[2],
  'created_ms', ARGV[2], 'created_by', ARGV[3], 'at_reported', ARGV[2], 'units', '',
  unpack(pairs))
redis.call('XADD', KEYS[2], '*', 'from', '', 'to', 'reported', 'by', ARGV[3],
  'at_ms', ARGV[2], 'reason', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
redis.call('INCR', KEYS[5])
return {1, ARGV[1]}
"""

# A common prelude: the incident exists, its units are what the caller read, and the target is
# reachable from its current state. ARGV[1] = expected units (csv), ARGV[2] = n allowed-from,
# then the allowed-from states. Leaves `state` and `nxt` (the next ARGV index).
_PRELUDE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-1, ''} end
if (redis.call('HGET', KEYS[1], 'units') or '') ~= ARGV[1] then return {-2, state} end
local allowed = false
local n_from = tonumber(ARGV[2])
for i = 3, 2 + n_from do if ARGV[i] == state then allowed = true end end
if not allowed then return {0, state} end
local nxt = 3 + n_from
"""

# Record a transition; times never run backwards on one incident (a late field report is
# recorded at the incident's latest time, with its own time kept in `reported_ms`). `record`
# writes the script's own incident (KEYS[1], its timeline KEYS[2]); `record_on` another one
# (a pre-empted incident), with more fields for its event. Both give the event's stream id,
# which the scripts return so the caller records exactly that event in the audit log.
_RECORD = """
local function record_on(incident, timeline, from, to, at, by, reason, extra, more)
  local last = tonumber(redis.call('HGET', incident, 'state_ms') or '0')
  local when = math.max(tonumber(at), last)
  redis.call('HSET', incident, 'state', to, 'state_ms', when)
  redis.call('HSETNX', incident, 'at_' .. to, when)
  return redis.call('XADD', timeline, '*', 'from', from, 'to', to, 'by', by, 'at_ms', when,
    'reported_ms', at, 'reason', reason, 'extra', extra, unpack(more or {}))
end
local function record(from, to, at, by, reason, extra)
  return record_on(KEYS[1], KEYS[2], from, to, at, by, reason, extra)
end
"""

# KEYS: incident, timeline, open-index, version, then the task keys of the incident's units
# ARGV: units csv, n_from, from..., to, at_ms, by, reason, extra json, release (0/1),
#       closes (0/1: leaves the open index), incident id, a counter field of the incident to add
#       1 to with the transition ('' = none: a field report's times_by_track / times_flagged),
#       unit that must be on it ('' = none)
TRANSITION = (
    _RECORD
    + """
local member = ARGV[#ARGV]
if member ~= '' then  -- first: a stranger is told so whatever the state (released units count)
  local on = (redis.call('HGET', KEYS[1], 'units') or '') .. ',' ..
    (redis.call('HGET', KEYS[1], 'released_units') or '')
  if not string.find(',' .. on .. ',', ',' .. member .. ',', 1, true) then
    return {-5, redis.call('HGET', KEYS[1], 'state') or ''}
  end
end
"""
    + _PRELUDE
    + """
local to, at, by, reason, extra = ARGV[nxt], ARGV[nxt + 1], ARGV[nxt + 2], ARGV[nxt + 3],
  ARGV[nxt + 4]
local release, closes, id, count = ARGV[nxt + 5], ARGV[nxt + 6], ARGV[nxt + 7], ARGV[nxt + 8]
if member ~= '' then  -- a unit taken for more urgent work speaks no more for this incident
  local i = 0
  for unit in string.gmatch(ARGV[1], '[^,]+') do
    i = i + 1
    if unit == member then
      local now_on = redis.call('HGET', KEYS[4 + i], 'incident')
      if now_on and now_on ~= id then return {-5, state} end
    end
  end
end
local event = record(state, to, at, by, reason, extra)
if count ~= '' then redis.call('HINCRBY', KEYS[1], count, 1) end
if release == '1' then
  for i = 5, #KEYS do
    if redis.call('HGET', KEYS[i], 'incident') == id then redis.call('DEL', KEYS[i]) end
  end
  redis.call('HSET', KEYS[1], 'released_units', ARGV[1], 'units', '')
end
if closes == '1' then redis.call('ZREM', KEYS[3], id) end
redis.call('INCR', KEYS[4])
return {1, to, event}
"""
)

# Assign (or reassign) a set of units. A unit busy on another incident is refused unless the
# caller allows pre-emption and that incident is less urgent (a larger priority number). The
# pre-empted incident's own record says so in the same step: the unit leaves its `units`, and
# its timeline gets an event (`taken`: the units, `for`: this incident) that keeps its state,
# or goes back to triaged (to be sent again) when no unit is left on it; the events stream
# tells the pages. New units get a notice in the outbox.
# KEYS: incident, timeline, version, outbox, events, then the task keys of the new units, then
#       the task keys of the current units, then per incident a new unit may be taken from:
#       its record and its timeline
# ARGV: units csv (current), n_from, from..., at_ms, by, reason, priority, preempt (0/1),
#       incident id, n_new, new unit ids..., notices (json, one per new unit)..., then the
#       incidents the caller saw the new units on (n, ids...: their keys' order)
# Returns {1, 'assigned', its event's id, '<incident>|<its state now>|<its event's id>' per
# pre-empted incident...}.
ASSIGN = (
    _RECORD
    + """
"""
    + _PRELUDE
    + """
local at, by, reason = ARGV[nxt], ARGV[nxt + 1], ARGV[nxt + 2]
local priority, preempt, id = tonumber(ARGV[nxt + 3]), ARGV[nxt + 4], ARGV[nxt + 5]
local n_new = tonumber(ARGV[nxt + 6])
local first_unit = nxt + 7
local first_notice = first_unit + n_new
local current = {}
for unit in string.gmatch(ARGV[1], '[^,]+') do current[#current + 1] = unit end
local seen_at = {}  -- an incident the caller saw a new unit on -> the index of its keys
local first_seen = first_notice + n_new
for j = 1, tonumber(ARGV[first_seen]) do seen_at[ARGV[first_seen + j]] = j end
local taken, taken_from = {}, {}
for i = 1, n_new do
  local task = KEYS[5 + i]
  local other = redis.call('HGET', task, 'incident')
  if other and other ~= id then
    local other_priority = tonumber(redis.call('HGET', task, 'priority') or '0')
    if preempt ~= '1' or other_priority <= priority then
      return {-3, ARGV[first_unit + i - 1]}
    end
    -- its incident's keys must be declared: if the unit moved since the caller looked, retry
    if not seen_at[other] then return {-2, state} end
    if not taken[other] then
      taken[other] = {}
      taken_from[#taken_from + 1] = other
    end
    table.insert(taken[other], ARGV[first_unit + i - 1])
  end
end
local new = {}
for i = 1, n_new do new[ARGV[first_unit + i - 1]] = true end
for i, unit in ipairs(current) do
  local task = KEYS[5 + n_new + i]
  if not new[unit] and redis.call('HGET', task, 'incident') == id then
    redis.call('DEL', task)
  end
end
local was = {}
for _, unit in ipairs(current) do was[unit] = true end
local units = {}
for i = 1, n_new do
  local unit = ARGV[first_unit + i - 1]
  units[#units + 1] = unit
  redis.call('HSET', KEYS[5 + i], 'incident', id, 'priority', priority, 'assigned_ms', at,
    'by', by)
  if not was[unit] then
    redis.call('XADD', KEYS[4], '*', 'unit', unit, 'incident', id,
      'notice', ARGV[first_notice + i - 1])
  end
end
local moved = {1, 'assigned', ''}  -- [3]: this incident's event, written last
local others_at = 5 + n_new + #current
for _, other in ipairs(taken_from) do
  local j = seen_at[other]
  local record_key, timeline_key = KEYS[others_at + 2 * j - 1], KEYS[others_at + 2 * j]
  local gone = {}
  for _, unit in ipairs(taken[other]) do
    gone[unit] = true
    redis.call('XADD', KEYS[5], '*', 'type', 'unit_preempted', 'unit', unit, 'from', other,
      'to', id, 'by', by, 'ts', at)
  end
  local left = {}
  for unit in string.gmatch(redis.call('HGET', record_key, 'units') or '', '[^,]+') do
    if not gone[unit] then left[#left + 1] = unit end
  end
  local was_state = redis.call('HGET', record_key, 'state') or ''
  local now_state = was_state
  if #left == 0 then now_state = 'triaged' end
  redis.call('HSET', record_key, 'units', table.concat(left, ','))
  local event = record_on(record_key, timeline_key, was_state, now_state, at, by, reason, '',
    {'taken', table.concat(taken[other], ','), 'for', id})
  moved[#moved + 1] = other .. '|' .. now_state .. '|' .. event
end
redis.call('HSET', KEYS[1], 'units', table.concat(units, ','))
moved[3] = record(state, 'assigned', at, by, reason, table.concat(units, ','))
redis.call('INCR', KEYS[3])
return moved
"""
)
