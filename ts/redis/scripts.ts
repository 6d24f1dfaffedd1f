import { createHash } from 'node:crypto'

// The Lua scripts behind every change a RedisSessionManager makes. Each runs atomically in
// Redis, reads the time from Redis (TIME), and keeps the session record, the deadline index and
// the per-user set in step. Every script that changes what another process may hold in its near
// cache bumps the sequence counter and publishes an invalidation in the same step, so a process
// cannot see the change without the message being on its way.
//
// Keys (docs in README "Many processes: Redis"), under `prefix` + layout version `1:`:
//   s:<id>      hash: the session record (see record.ts)
//   deadlines   sorted set: id scored by its deadline (ms, Redis clock; +inf for none)
//   u:<user>    set: the ids of one user's sessions
//   seq         counter of published invalidations
//   lease       the sweeper's lease (the owner's token)
//   channel     pub/sub channel of invalidations: JSON [seq, kind, origin, id, newId?]
// Scripts build their key names from ARGV[1] (the prefix): in Redis Cluster the prefix must
// carry a hash tag (`{sk}:`) so that every key lives in one slot.

const COMMON = `
local P = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function fields(h)
  local f = {}
  for n = 1, #h, 2 do f[h[n]] = h[n + 1] end
  return f
end
-- The deadline of a record (nil: none), from its created, last-use and timeout fields.
local function deadline(f)
  local c, a, i, x = tonumber(f['c']), tonumber(f['a']), tonumber(f['i']), tonumber(f['x'])
  if c == nil or a == nil then return nil end
  local d = nil
  if i ~= nil and i > 0 then d = a + i end
  if x ~= nil and x > 0 and (d == nil or c + x < d) then d = c + x end
  return d
end
local function alive(f, now)
  local d = deadline(f)
  return d == nil or now < d
end
-- Indexes the record under its deadline and gives its key a TTL past it (a safety net: the
-- sweep closes it first), or none when it has no deadline.
local function index(id, f, now, grace)
  local key = P .. 's:' .. id
  local d = deadline(f)
  if d == nil then
    redis.call('ZADD', P .. 'deadlines', 'inf', id)
    redis.call('PERSIST', key)
  else
    redis.call('ZADD', P .. 'deadlines', d, id)
    redis.call('PEXPIRE', key, math.max(d - now, 0) + grace)
  end
  local u = f['u']
  if u ~= nil then
    local ukey = P .. 'u:' .. u
    if d == nil then
      redis.call('PERSIST', ukey)
    else
      local ttl = redis.call('PTTL', ukey)
      if ttl >= 0 and ttl < math.max(d - now, 0) + grace then redis.call('PEXPIRE', ukey, math.max(d - now, 0) + grace) end
    end
  end
end
local function unindex(id, f)
  redis.call('DEL', P .. 's:' .. id)
  redis.call('ZREM', P .. 'deadlines', id)
  if f['u'] ~= nil then redis.call('SREM', P .. 'u:' .. f['u'], id) end
end
local function add_user(id, u, d, now, grace)
  local ukey = P .. 'u:' .. u
  local fresh = redis.call('EXISTS', ukey) == 0
  redis.call('SADD', ukey, id)
  if fresh and d ~= nil then redis.call('PEXPIRE', ukey, math.max(d - now, 0) + grace) end
end
local function publish(kind, origin, id, new_id)
  local seq = redis.call('INCR', P .. 'seq')
  local message = {seq, kind, origin, id}
  if new_id ~= nil then message[5] = new_id end
  redis.call('PUBLISH', P .. 'channel', cjson.encode(message))
  return seq
end
local function seq_now()
  return tonumber(redis.call('GET', P .. 'seq') or '0')
end
`

/**
 * Reads a record and, when `renew` is set and it was last renewed at least `touchInterval` ago,
 * renews it (last use = now, deadline moved, TTL moved). Expired records read as absent.
 * ARGV: prefix, id, renew (0/1), touchInterval, grace. Returns {now, seq, record or false}.
 */
const READ = `
local id, renew, interval, grace = ARGV[2], ARGV[3] == '1', tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
local seq = seq_now()
local key = P .. 's:' .. id
local h = redis.call('HGETALL', key)
if #h == 0 then return {now, seq, false} end
local f = fields(h)
if not alive(f, now) then return {now, seq, false} end
if renew and tonumber(f['i'] or '0') > 0 and now - tonumber(f['a']) >= interval then
  redis.call('HSET', key, 'a', now)
  f['a'] = tostring(now)
  index(id, f, now, grace)
  h = redis.call('HGETALL', key)
end
return {now, seq, h}
`

/**
 * Creates a record unless a live one holds the id (then {0, now}). An expired holder the sweep
 * has not reached is closed here: its record comes back for this process's 'close' event.
 * ARGV: prefix, id, grace, origin, then field, value pairs (c and a are set to now).
 * Returns {1, now, seq, record, replaced record or false}.
 */
const CREATE = `
local id, grace, origin = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local now = now_ms()
local key = P .. 's:' .. id
local old = redis.call('HGETALL', key)
local replaced = false
if #old > 0 then
  local of = fields(old)
  if alive(of, now) then return {0, now} end
  unindex(id, of)
  replaced = old
elseif redis.call('ZREM', P .. 'deadlines', id) == 1 then
  replaced = {}
end
local args = {'HSET', key, 'c', now, 'a', now}
for n = 5, #ARGV do args[#args + 1] = ARGV[n] end
redis.call(unpack(args))
local f = fields(redis.call('HGETALL', key))
index(id, f, now, grace)
if f['u'] ~= nil then add_user(id, f['u'], deadline(f), now, grace) end
local seq = seq_now()
if replaced then seq = publish('c', origin, id) end
return {1, now, seq, redis.call('HGETALL', key), replaced}
`

/**
 * Changes fields of a live record: the pairs to set, then the names to delete. A change of
 * user moves the id between user sets; a change of timeout moves the deadline; the field 'a'
 * (whatever value is given) renews the session now.
 * ARGV: prefix, id, grace, origin, count of pairs, pairs..., names to delete...
 * Returns {0, now} when the record is absent or expired, else {1, now, seq, record}.
 */
const WRITE = `
local id, grace, origin, pairs = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local now = now_ms()
local key = P .. 's:' .. id
local h = redis.call('HGETALL', key)
if #h == 0 then return {0, now} end
local before = fields(h)
if not alive(before, now) then return {0, now} end
if pairs > 0 then
  local args = {'HSET', key}
  for n = 6, 5 + pairs * 2, 2 do
    args[#args + 1] = ARGV[n]
    if ARGV[n] == 'a' then args[#args + 1] = now else args[#args + 1] = ARGV[n + 1] end
  end
  redis.call(unpack(args))
end
for n = 6 + pairs * 2, #ARGV do redis.call('HDEL', key, ARGV[n]) end
local f = fields(redis.call('HGETALL', key))
if before['u'] ~= f['u'] then
  if before['u'] ~= nil then redis.call('SREM', P .. 'u:' .. before['u'], id) end
  if f['u'] ~= nil then add_user(id, f['u'], deadline(f), now, grace) end
end
if before['i'] ~= f['i'] or before['x'] ~= f['x'] or before['a'] ~= f['a'] then index(id, f, now, grace) end
local seq = publish('w', origin, id)
return {1, now, seq, redis.call('HGETALL', key)}
`

/**
 * Closes a record (destroy). ARGV: prefix, id, origin. Returns {0, now} when there was nothing
 * to close, else {1 (destroyed) or 2 (it had expired), now, seq, record}. A deadline entry whose
 * key Redis already dropped (its TTL) closes as expired with an empty record.
 */
const DESTROY = `
local id, origin = ARGV[2], ARGV[3]
local now = now_ms()
local h = redis.call('HGETALL', P .. 's:' .. id)
if #h == 0 then
  if redis.call('ZREM', P .. 'deadlines', id) == 1 then return {2, now, publish('c', origin, id), {}} end
  return {0, now}
end
local f = fields(h)
local status = 1
if not alive(f, now) then status = 2 end
unindex(id, f)
return {status, now, publish('c', origin, id), h}
`

/**
 * Moves a live record to a new id: the old id is dead and the new one live in one step, data
 * kept, renewed. ARGV: prefix, old id, new id, grace, origin. Returns {0, now} when the old
 * record is not live, {3, now} when a live session holds the new id, else {1, now, seq, record,
 * replaced record or false} (an expired holder of the new id, closed here).
 */
const REGENERATE = `
local old_id, new_id, grace, origin = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local now = now_ms()
local old_key, new_key = P .. 's:' .. old_id, P .. 's:' .. new_id
local h = redis.call('HGETALL', old_key)
if #h == 0 then return {0, now} end
local f = fields(h)
if not alive(f, now) then return {0, now} end
local replaced = false
local held = redis.call('HGETALL', new_key)
if #held > 0 then
  local hf = fields(held)
  if alive(hf, now) then return {3, now} end
  unindex(new_id, hf)
  replaced = held
elseif redis.call('ZREM', P .. 'deadlines', new_id) == 1 then
  replaced = {}
end
if replaced then publish('c', origin, new_id) end
redis.call('ZREM', P .. 'deadlines', old_id)
if f['u'] ~= nil then redis.call('SREM', P .. 'u:' .. f['u'], old_id) end
redis.call('RENAME', old_key, new_key)
redis.call('HSET', new_key, 'a', now)
f['a'] = tostring(now)
index(new_id, f, now, grace)
if f['u'] ~= nil then add_user(new_id, f['u'], deadline(f), now, grace) end
local seq = publish('r', origin, old_id, new_id)
return {1, now, seq, redis.call('HGETALL', new_key), replaced}
`

/**
 * Closes up to `limit` sessions whose deadline has passed, if this process holds the sweep lease
 * (taking it when free, extending it when its own). ARGV: prefix, owner token, lease ms, limit,
 * origin, grace. Returns {0} when another process holds the lease, else {1, now, more (0/1), id,
 * record, id, record...}.
 */
const SWEEP = `
local owner, lease, limit, origin, grace = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local holder = redis.call('GET', P .. 'lease')
if holder and holder ~= owner then return {0} end
redis.call('SET', P .. 'lease', owner, 'PX', lease)
local now = now_ms()
local due = redis.call('ZRANGE', P .. 'deadlines', '-inf', now, 'BYSCORE', 'LIMIT', 0, limit + 1)
local result = {1, now, 0}
if #due > limit then result[3] = 1 end
for n = 1, math.min(#due, limit) do
  local id = due[n]
  local h = redis.call('HGETALL', P .. 's:' .. id)
  local f = fields(h)
  if #h > 0 and alive(f, now) then
    index(id, f, now, grace)
  else
    unindex(id, f)
    publish('c', origin, id)
    result[#result + 1] = id
    result[#result + 1] = h
  end
end
return result
`

/** Gives up the sweep lease if this process holds it. ARGV: prefix, owner token. */
const RELEASE = `
if redis.call('GET', P .. 'lease') == ARGV[2] then redis.call('DEL', P .. 'lease') end
return 1
`

/** The current sequence number and time. ARGV: prefix. Returns {now, seq}. */
const SEQUENCE = `
return {now_ms(), seq_now()}
`

export interface Script {
  readonly source: string
  readonly sha: string
}

function script(body: string): Script {
  const source = COMMON + body
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

export const SCRIPTS = {
  read: script(READ),
  create: script(CREATE),
  write: script(WRITE),
  destroy: script(DESTROY),
  regenerate: script(REGENERATE),
  sweep: script(SWEEP),
  release: script(RELEASE),
  sequence: script(SEQUENCE),
} as const
