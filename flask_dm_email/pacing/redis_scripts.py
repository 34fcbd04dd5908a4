"""The Lua scripts of the Redis store: one per operation, each atomic in Redis, with
Redis's own clock (``TIME``). They mirror :mod:`~flask_dm_email.pacing.gcra` and
:mod:`~flask_dm_email.pacing.daily` line for line; the store tests run the same
behaviour against every store to hold them together.

One hash per key: ``tat``, ``rate`` and ``burst`` (written by reservations; ``%.17g``
so a float survives the round trip through text), ``day`` (days since the epoch, UTC)
and ``day_count``. Every write keeps the hash at least ``ARGV[#ARGV]`` seconds (two
days, so today's count outlives the day), and longer while ``tat`` is further ahead.
"""

from __future__ import annotations

# Redis before 5 refuses writes after TIME unless the script asks to replicate its
# effects rather than itself (later versions always do, and keep the call harmless).
_NOW = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local keep = tonumber(ARGV[#ARGV])
local function keep_for(seconds)
  if redis.call('TTL', KEYS[1]) < seconds then redis.call('EXPIRE', KEYS[1], seconds) end
end
local function text(number) return string.format('%.17g', number) end
"""

#: ARGV: rate, burst, max_wait, empty-bucket slots, keep. Returns
#: {admitted 0/1, wait, stored rate or '', stored burst or ''}.
RESERVE = _NOW + """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_wait, slots = tonumber(ARGV[3]), tonumber(ARGV[4])
local stored = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'burst')
local interval = 1 / rate
local tat = tonumber(stored[1])
local new_key = tat == nil
if new_key then tat = now + (burst + slots) * interval end
local wait = math.max(0, tat - burst * interval - now)
local admitted = wait <= max_wait
if admitted then tat = math.max(tat, now) + interval end
if admitted or new_key then
  redis.call('HSET', KEYS[1], 'tat', text(tat), 'rate', ARGV[1], 'burst', ARGV[2])
  keep_for(keep + math.ceil(tat - now))
end
return {admitted and 1 or 0, text(wait), stored[2] or '', stored[3] or ''}
"""

#: ARGV: rate, burst, empty-bucket slots, keep.
PUSH_BACK = _NOW + """
local rate, burst, slots = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat')) or now
tat = math.max(tat, now) + (burst + slots) / rate
redis.call('HSET', KEYS[1], 'tat', text(tat), 'rate', ARGV[1], 'burst', ARGV[2])
keep_for(keep + math.ceil(tat - now))
return 1
"""

_TODAY = """
local today = tostring(math.floor(now / 86400))
local day = redis.call('HMGET', KEYS[1], 'day', 'day_count')
local count = 0
if day[1] == today then count = tonumber(day[2]) end
"""

#: ARGV: limit, keep. Returns 1 if counted, 0 if the limit is reached.
TAKE_DAILY = _NOW + _TODAY + """
if count >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'day', today, 'day_count', count + 1)
keep_for(keep)
return 1
"""

#: ARGV: keep.
GIVE_BACK_DAILY = _NOW + _TODAY + """
redis.call('HSET', KEYS[1], 'day', today, 'day_count', math.max(0, count - 1))
keep_for(keep)
return 1
"""

#: ARGV: keep (unused). Returns {seconds, microseconds, tat, rate, burst, day, day_count},
#: '' for what is not stored.
SNAPSHOT = _NOW + """
local stored = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'burst', 'day', 'day_count')
return {clock[1], clock[2], stored[1] or '', stored[2] or '', stored[3] or '', stored[4] or '', stored[5] or ''}
"""
