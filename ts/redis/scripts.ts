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
//   ids         sorted set: the same ids, every one scored 0, so that ZRANGE BYLEX pages through
//               them in byte order from a cursor (an id), which no change of deadline moves;
//               index() adds to it and unindex() removes from it, in the same step as deadlines
//   u:<user>    set: the ids of one user's sessions (uh:<blind index> when the user is sealed)
//   seq         counter of published invalidations
//   lease       the sweeper's lease (the owner's token)
//   channel     pub/sub channel of invalidations: JSON [seq, kind, origin, id, newId?], and for
//               a write [seq, 'w', origin, id, false, record as HGETALL returns it] when
//               the record's fields and values total at most 4096 bytes
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
-- The key of the per-user set of a record's user: its blind index when sealed, else its name.
local function user_key(f)
  if f['h'] ~= nil then return P .. 'uh:' .. f['h'] end
  if f['u'] ~= nil then return P .. 'u:' .. f['u'] end
  return nil
end
local function is_sealed(name)
  return name == 'U' or name == 'R' or string.sub(name, 1, 2) == 'e:'
end
local function is_plain(name)
  return name == 'u' or name == 'r' or string.sub(name, 1, 2) == 'd:'
end
-- A record holding a sealed field is refused by readers of version 1 (record.ts).
local function raise_reader(key)
  if tonumber(redis.call('HGET', key, 'm') or '1') < 2 then redis.call('HSET', key, 'm', 2) end
end
-- HSET of names and values listed in turn, in pieces: Lua's unpack takes ~8,000 values at most,
-- and a record of 4,000 data keys is a valid one. A script's writes before it are not undone
-- when it fails: a create failed there after make_room had evicted sessions.
local function hset_list(key, list)
  for first = 1, #list, 4000 do
    redis.call('HSET', key, unpack(list, first, math.min(first + 3999, #list)))
  end
end
local function alive(f, now)
  local d = deadline(f)
  return d == nil or now < d
end
-- Indexes the record under its deadline and in the paging set, and gives its key a TTL past it
-- (a safety net: the sweep closes it first), or none when it has no deadline. The paging set's
-- ZADD NX is a no-op for a member (score 0 always); for a session an older release created, which
-- never filed it there, the first renewal or write by this release does (a rolling deploy).
-- The key's TTL goes first: PEXPIRE and PERSIST are writes Redis allows at maxmemory (see
-- admit_growth), so a renewal that begins here runs when Redis is full.
local function index(id, f, now, grace)
  local key = P .. 's:' .. id
  local d = deadline(f)
  if d == nil then
    redis.call('PERSIST', key)
    redis.call('ZADD', P .. 'deadlines', 'inf', id)
  else
    redis.call('PEXPIRE', key, math.max(d - now, 0) + grace)
    redis.call('ZADD', P .. 'deadlines', d, id)
  end
  redis.call('ZADD', P .. 'ids', 'NX', 0, id)
  local ukey = user_key(f)
  if ukey ~= nil then
    if d == nil then
      redis.call('PERSIST', ukey)
    else
      local ttl = redis.call('PTTL', ukey)
      if ttl >= 0 and ttl < math.max(d - now, 0) + grace then redis.call('PEXPIRE', ukey, math.max(d - now, 0) + grace) end
    end
  end
end
-- After a member without a deadline left ukey, which kept no TTL for it: the TTL of the members'
-- longest-lived key, or none while another has no deadline. Else the set outlived them all, and
-- a member whose key Redis dropped before any sweep (the sweep then closes it with an empty
-- record, which names no user) stayed in it for good. Members whose key is gone leave now.
-- O(members), and only when such a member leaves.
local function retime_user(ukey)
  if redis.call('PTTL', ukey) ~= -1 then return end
  local longest = 0
  for _, m in ipairs(redis.call('SMEMBERS', ukey)) do
    local ttl = redis.call('PTTL', P .. 's:' .. m)
    if ttl == -1 then return end
    if ttl == -2 then redis.call('SREM', ukey, m) elseif ttl > longest then longest = ttl end
  end
  redis.call('PEXPIRE', ukey, math.max(longest, 1))
end
-- Takes id, whose record was f, out of ukey.
local function leave_user(id, f, ukey)
  redis.call('SREM', ukey, id)
  if deadline(f) == nil then retime_user(ukey) end
end
local function unindex(id, f)
  redis.call('DEL', P .. 's:' .. id)
  redis.call('ZREM', P .. 'deadlines', id)
  redis.call('ZREM', P .. 'ids', id)
  local ukey = user_key(f)
  if ukey ~= nil then leave_user(id, f, ukey) end
end
-- Files id under ukey. The set must outlive every member (a set dropped early hides live
-- sessions from sessionsOf, closeUser and the cap): no TTL while one has no deadline, else at
-- least this one's. A set that already exists may carry a shorter TTL (a setUser or a reseal
-- joins a set made by a session that ends sooner).
local function add_user(id, ukey, d, now, grace)
  local fresh = redis.call('EXISTS', ukey) == 0
  redis.call('SADD', ukey, id)
  if d == nil then
    if not fresh then redis.call('PERSIST', ukey) end
  else
    local need = math.max(d - now, 0) + grace
    local ttl = redis.call('PTTL', ukey)
    if fresh or (ttl >= 0 and ttl < need) then redis.call('PEXPIRE', ukey, need) end
  end
end
-- A write's message carries the record after it, so that a process holding a copy replaces it
-- instead of dropping it and asking Redis on its next read.
local function publish(kind, origin, id, new_id, record)
  local seq = redis.call('INCR', P .. 'seq')
  local message = {seq, kind, origin, id}
  if new_id ~= nil then message[5] = new_id end
  if record ~= nil then
    message[5] = new_id or false
    message[6] = record
  end
  redis.call('PUBLISH', P .. 'channel', cjson.encode(message))
  return seq
end
local function seq_now()
  return tonumber(redis.call('GET', P .. 'seq') or '0')
end
-- Redis at maxmemory under noeviction refuses a script's first write when that write may grow
-- memory (a "denyoom" command), and none after it: a script cannot stop half-way. So a script
-- that grows memory (a create, a write of data) calls this before its first write: at maxmemory
-- it fails here, whole, with Redis's OOM error. A script that frees memory or grows nothing (a
-- renewal, a close, the sweep) opens with a write Redis allows when full (PEXPIRE, PERSIST, DEL,
-- ZREM, SREM) and so runs. The probe is a ZADD XX of an id the paging set does not hold, or holds
-- at that score: it changes nothing, and is a command the scripts use anyway (for ACLs).
local function admit_growth(id)
  redis.call('ZADD', P .. 'ids', 'XX', 0, id)
end
-- Opens a script that grows nothing with a write Redis allows at maxmemory: the key's TTL set to
-- what it is (a live record's key has one of at least the grace, or none).
local function allow_when_full(key)
  local ttl = redis.call('PTTL', key)
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) elseif ttl == -1 then redis.call('PERSIST', key) end
end
-- The per-user sets of one user, named in ARGV from \`from\` on (\`count\` of them, without the
-- prefix): u:<user>, and with a key uh:<blind index> under each key (a record sealed under an
-- older key is filed under that key's index until sealed again). Returns {id, record, fields}
-- of each member whose record is live and still filed under the set it was found in; members
-- whose record is gone or names another user leave the set.
local function members(from, count, now)
  local found, seen = {}, {}
  for n = from, from + count - 1 do
    local ukey = P .. ARGV[n]
    for _, m in ipairs(redis.call('SMEMBERS', ukey)) do
      local mh = redis.call('HGETALL', P .. 's:' .. m)
      local mf = fields(mh)
      if #mh == 0 or user_key(mf) ~= ukey then
        redis.call('SREM', ukey, m)
      elseif not seen[m] and alive(mf, now) then
        seen[m] = true
        found[#found + 1] = {m, mh, mf}
      end
    end
  end
  return found
end
-- Room for one more live session of a user (its sets named as for members) under cap (0:
-- none) for session id: false when the user has cap live sessions besides id and policy is
-- 'reject'; with 'evict-oldest', closes the user's sessions created first until there is room,
-- returning them as {id, record, ...}. Expired ones are left to the sweep and not counted, nor
-- is \`leaving\` (a login's old session the caller closes in the same step; nil for none).
local function make_room(from, count, id, cap, policy, origin, now, leaving)
  local evicted = {}
  if cap <= 0 or count == 0 then return true, evicted end
  local live = {}
  for _, m in ipairs(members(from, count, now)) do
    if m[1] ~= id and m[1] ~= leaving then live[#live + 1] = m end
  end
  if #live < cap then return true, evicted end
  if policy ~= 'evict-oldest' then return false, evicted end
  local function created(m) return tonumber(m[3]['c']) or 0 end
  table.sort(live, function(a, b) return created(a) < created(b) or (created(a) == created(b) and a[1] < b[1]) end)
  for n = 1, #live - cap + 1 do
    local m = live[n]
    unindex(m[1], m[3])
    publish('c', origin, m[1])
    evicted[#evicted + 1] = m[1]
    evicted[#evicted + 1] = m[2]
  end
  return true, evicted
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
  -- A renewal grows nothing: index() opens with the key's new TTL, so it runs at maxmemory.
  f['a'] = tostring(now)
  index(id, f, now, grace)
  redis.call('HSET', key, 'a', now)
  h = redis.call('HGETALL', key)
end
return {now, seq, h}
`

/**
 * Creates a record unless a live one holds the id (then {0, now}), or its user is at
 * maxSessionsPerUser with whenUserFull 'reject' (then {4, now}; nothing changed). An expired
 * holder the sweep has not reached is closed here: its record comes back for this process's
 * 'close' event, and so do the user's sessions evicted for the cap.
 * A login's old session (`previous`, '' for none) is closed in the same step, before room is
 * made, when it is live and filed under one of the user's sets: a re-login at the cap never costs
 * the user another session, and nothing can take the place it leaves between the two.
 * ARGV: prefix, id, grace, origin, maxSessionsPerUser (0: none), whenUserFull, count of the
 * user's set names, the names (see members; none without a user), previous, then field, value
 * pairs (c and a are set to now).
 * Returns {1, now, seq, record, replaced record or false, {evicted id, record, ...}, previous's
 * record or false}.
 */
const CREATE = `
local id, grace, origin, cap, policy, sets = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local previous = ARGV[8 + sets]
local B = 9 + sets
local now = now_ms()
local key = P .. 's:' .. id
local old = redis.call('HGETALL', key)
local of = nil
if #old > 0 then
  of = fields(old)
  if alive(of, now) then return {0, now} end
end
-- previous leaves only once nothing can refuse the create: make_room counts the user without it.
local closed_previous, pf, leaving = false, nil, nil
if previous ~= '' and previous ~= id then
  local ph = redis.call('HGETALL', P .. 's:' .. previous)
  pf = fields(ph)
  if #ph > 0 and alive(pf, now) then
    for n = 8, 7 + sets do
      if user_key(pf) == P .. ARGV[n] then
        closed_previous = ph
        leaving = previous
      end
    end
  end
end
admit_growth(id)
local room, evicted = make_room(8, sets, id, cap, policy, origin, now, leaving)
if not room then return {4, now} end
if closed_previous then
  unindex(previous, pf)
  publish('c', origin, previous)
end
local replaced = false
if of ~= nil then
  unindex(id, of)
  replaced = old
elseif redis.call('ZREM', P .. 'deadlines', id) == 1 then
  replaced = {}
end
local list = {'c', now, 'a', now}
for n = B, #ARGV do list[#list + 1] = ARGV[n] end
hset_list(key, list)
local f = fields(redis.call('HGETALL', key))
index(id, f, now, grace)
if user_key(f) ~= nil then add_user(id, user_key(f), deadline(f), now, grace) end
if replaced then publish('c', origin, id) end
return {1, now, seq_now(), redis.call('HGETALL', key), replaced, evicted, closed_previous}
`

/**
 * Changes fields of a live record: the pairs to set, then the names to delete. A change of
 * user moves the id between user sets; a change of timeout moves the deadline; the field 'a'
 * (whatever value is given) renews the session now.
 * A write that sets a user first makes room for the session under maxSessionsPerUser, as CREATE.
 * ARGV: prefix, id, grace, origin, maxSessionsPerUser (0: none), whenUserFull, count of the new
 * user's set names, the names, count of pairs, pairs..., names to delete..., and last the data
 * version the write expects ('' for any).
 * The data version, field 'w' (absent: 0), counts the writes that set or delete a data value:
 * a write that merged its change into the record as some copy held it names that copy's
 * version, and is refused when another write changed the data since. Renewals and timeout
 * changes leave it, so they never refuse such a write.
 * Returns {0, now} when the record is absent or expired, {7, now, record} when its data version
 * is not the expected one (the record as it is; nothing changed), {4, now} when the new user is
 * at the cap with 'reject' (nothing changed), {5, now, field} for a plain user, roles or value
 * into a sealed record, {6, now} for a sealed one into a record still holding plain ones (seal
 * it first: RESEAL), else {1, now, seq, record, {evicted id, record, ...}}.
 */
const WRITE = `
local id, grace, origin, cap, policy, sets = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local pairs = tonumber(ARGV[8 + sets])
local B = 9 + sets
local expected, last = ARGV[#ARGV], #ARGV - 1
local now = now_ms()
local key = P .. 's:' .. id
local h = redis.call('HGETALL', key)
if #h == 0 then return {0, now} end
local before = fields(h)
if not alive(before, now) then return {0, now} end
if expected ~= '' and (before['w'] or '0') ~= expected then return {7, now, h} end
-- Readers with the key refuse plain values in a sealed record (m 2), so none goes in, and a
-- sealed value goes into a plain record only once no plain value would be left beside it.
local sealed_record = tonumber(before['m'] or '1') >= 2
local seals = false
for n = B, B - 1 + pairs * 2, 2 do
  if is_sealed(ARGV[n]) then seals = true end
  if is_plain(ARGV[n]) and sealed_record then return {5, now, ARGV[n]} end
end
if seals and not sealed_record then
  local removed = {}
  for n = B + pairs * 2, last do removed[ARGV[n]] = true end
  for n = 1, #h, 2 do
    if is_plain(h[n]) and not removed[h[n]] then return {6, now} end
  end
end
-- A write that adds a field, makes a value longer or files the session under a user may grow
-- memory. One that renews, changes timeouts, deletes fields or writes values no longer than
-- those stored (a store saving an unchanged session with a new cookie expiry) does not, and runs
-- when Redis is full.
local grows = sets > 0
for n = B, B - 1 + pairs * 2, 2 do
  local name = ARGV[n]
  if name ~= 'a' and name ~= 'i' and name ~= 'x' and (before[name] == nil or #ARGV[n + 1] > #before[name]) then grows = true end
end
if grows then admit_growth(id) else allow_when_full(key) end
-- A new user: room for the session under maxSessionsPerUser, once nothing else can refuse the
-- write (an eviction cannot be undone). Its sets are named only when the write sets a user; one
-- the session is already filed under needs no room.
local evicted = {}
if sets > 0 then
  local filed = false
  for n = 8, 7 + sets do
    if user_key(before) == P .. ARGV[n] then filed = true end
  end
  if not filed then
    local room
    room, evicted = make_room(8, sets, id, cap, policy, origin, now)
    if not room then return {4, now} end
  end
end
if pairs > 0 then
  local list = {}
  local sealed = false
  for n = B, B - 1 + pairs * 2, 2 do
    list[#list + 1] = ARGV[n]
    if ARGV[n] == 'a' then list[#list + 1] = now else list[#list + 1] = ARGV[n + 1] end
    if is_sealed(ARGV[n]) then sealed = true end
  end
  hset_list(key, list)
  if sealed then raise_reader(key) end
end
local data_changed = false
for n = B, B - 1 + pairs * 2, 2 do
  if string.sub(ARGV[n], 1, 2) == 'd:' or string.sub(ARGV[n], 1, 2) == 'e:' then data_changed = true end
end
for n = B + pairs * 2, last do
  if redis.call('HDEL', key, ARGV[n]) == 1 and (string.sub(ARGV[n], 1, 2) == 'd:' or string.sub(ARGV[n], 1, 2) == 'e:') then data_changed = true end
end
if data_changed then redis.call('HINCRBY', key, 'w', 1) end
local f = fields(redis.call('HGETALL', key))
if user_key(before) ~= user_key(f) then
  if user_key(before) ~= nil then leave_user(id, before, user_key(before)) end
  if user_key(f) ~= nil then add_user(id, user_key(f), deadline(f), now, grace) end
end
if before['i'] ~= f['i'] or before['x'] ~= f['x'] or before['a'] ~= f['a'] then index(id, f, now, grace) end
-- A member that gains a deadline may have been what kept its user's set without a TTL.
if deadline(before) == nil and deadline(f) ~= nil and user_key(f) ~= nil and user_key(before) == user_key(f) then
  retime_user(user_key(f))
end
local record = redis.call('HGETALL', key)
-- Every process parses every message: a large record is not carried (copies are dropped).
local size = 0
for n = 1, #record do size = size + #record[n] end
local carried = nil
if size <= 4096 then carried = record end
local seq = publish('w', origin, id, nil, carried)
return {1, now, seq, record, evicted}
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
  redis.call('ZREM', P .. 'ids', id)
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
 * kept, renewed. Sealed values are bound to their session id, so the caller gives each sealed
 * field as it read it and sealed again for the new id: the move happens only if the record's
 * sealed fields are exactly those (else {4, now}: read again and retry).
 * ARGV: prefix, old id, new id, grace, origin, then field, value as read, value for the new id...
 * Returns {0, now} when the old record is not live, {3, now} when a live session holds the new
 * id, else {1, now, seq, record, replaced record or false} (an expired holder of the new id,
 * closed here).
 */
const REGENERATE = `
local old_id, new_id, grace, origin = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local now = now_ms()
local old_key, new_key = P .. 's:' .. old_id, P .. 's:' .. new_id
local h = redis.call('HGETALL', old_key)
if #h == 0 then return {0, now} end
local f = fields(h)
if not alive(f, now) then return {0, now} end
local resealed = 0
for n = 6, #ARGV, 3 do
  if f[ARGV[n]] ~= ARGV[n + 1] then return {4, now} end
  resealed = resealed + 1
end
for n = 1, #h, 2 do
  if is_sealed(h[n]) then resealed = resealed - 1 end
end
if resealed ~= 0 then return {4, now} end
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
redis.call('ZREM', P .. 'ids', old_id)
if user_key(f) ~= nil then redis.call('SREM', user_key(f), old_id) end
redis.call('RENAME', old_key, new_key)
redis.call('HSET', new_key, 'a', now)
for n = 6, #ARGV, 3 do redis.call('HSET', new_key, ARGV[n], ARGV[n + 2]) end
f['a'] = tostring(now)
index(new_id, f, now, grace)
if user_key(f) ~= nil then add_user(new_id, user_key(f), deadline(f), now, grace) end
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
-- The sweep frees memory, so it runs when Redis is full (see admit_growth): its first write is a
-- PEXPIRE, the extension of its own lease, or with none a PEXPIRE of nothing before the SET.
redis.call('PEXPIRE', P .. 'lease', lease)
if not holder then redis.call('SET', P .. 'lease', owner, 'PX', lease) end
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

/**
 * Seals fields again (a key rotation, or a record written before the key was given), only if
 * none of them changed since they were read: all or nothing. The values mean the same, so no
 * near cache needs invalidating. ARGV: prefix, id, grace, then groups of field as read, value
 * as read ('' for absent), field to write, value to write. Returns 1 when applied, else 0.
 */
const RESEAL = `
local id, grace = ARGV[2], tonumber(ARGV[3])
local key = P .. 's:' .. id
local h = redis.call('HGETALL', key)
if #h == 0 then return 0 end
local before = fields(h)
for n = 4, #ARGV, 4 do
  if (before[ARGV[n]] or '') ~= ARGV[n + 1] then return 0 end
end
local sealed = false
for n = 4, #ARGV, 4 do
  redis.call('HSET', key, ARGV[n + 2], ARGV[n + 3])
  if ARGV[n] ~= ARGV[n + 2] then redis.call('HDEL', key, ARGV[n]) end
  if is_sealed(ARGV[n + 2]) then sealed = true end
end
if sealed then raise_reader(key) end
local f = fields(redis.call('HGETALL', key))
if user_key(before) ~= user_key(f) then
  if user_key(before) ~= nil then leave_user(id, before, user_key(before)) end
  if user_key(f) ~= nil then add_user(id, user_key(f), deadline(f), now_ms(), grace) end
end
return 1
`

/**
 * Closes every session of a user but one, in one atomic step ("log out everywhere"): each is
 * unindexed and its invalidation published, as DESTROY does. ARGV: prefix, origin, the id to
 * leave open ('' for none), then the user's set names (see members). Returns {now, seq, status,
 * id, record, ...}: status 1 for a live session, 2 for one past its deadline.
 */
const CLOSE_USER = `
local origin, except = ARGV[2], ARGV[3]
local now = now_ms()
local result = {now, seq_now()}
local seen = {}
for n = 4, #ARGV do
  local ukey = P .. ARGV[n]
  for _, id in ipairs(redis.call('SMEMBERS', ukey)) do
    local h = redis.call('HGETALL', P .. 's:' .. id)
    local f = fields(h)
    if #h == 0 or user_key(f) ~= ukey then
      redis.call('SREM', ukey, id)
    elseif id ~= except and not seen[id] then
      seen[id] = true
      local status = 1
      if not alive(f, now) then status = 2 end
      unindex(id, f)
      result[2] = publish('c', origin, id)
      result[#result + 1] = status
      result[#result + 1] = id
      result[#result + 1] = h
    end
  end
end
return result
`

/** A user's live sessions. ARGV: prefix, the user's set names (see members). Returns {now, seq, id, record, ...}. */
const SESSIONS_OF = `
local now = now_ms()
local result = {now, seq_now()}
for _, m in ipairs(members(2, #ARGV - 1, now)) do
  result[#result + 1] = m[1]
  result[#result + 1] = m[2]
end
return result
`

/**
 * One page of live sessions in id order (bytes), after the id `after` ('' for the first page),
 * from the paging set: ZRANGE and the reads in one step, so a member present throughout the
 * paging is in exactly one page (each page's range starts strictly after the last id the one
 * before it looked at). A member whose record is gone (its key's TTL, or a close by an older
 * release that does not know the set) leaves the set here; one past its deadline is skipped and
 * left to the sweep. ARGV: prefix, after, limit. Returns {now, seq, more (0/1), the last id
 * looked at ('' for none), id, record, ...}.
 */
const PAGE = `
local after, limit = ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local start = '-'
if after ~= '' then start = '(' .. after end
local ids = redis.call('ZRANGE', P .. 'ids', start, '+', 'BYLEX', 'LIMIT', 0, limit + 1)
local result = {now, seq_now(), 0, ''}
if #ids > limit then result[3] = 1 end
for n = 1, math.min(#ids, limit) do
  local id = ids[n]
  result[4] = id
  local h = redis.call('HGETALL', P .. 's:' .. id)
  if #h == 0 then
    redis.call('ZREM', P .. 'ids', id)
  elseif alive(fields(h), now) then
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
  reseal: script(RESEAL),
  sweep: script(SWEEP),
  closeUser: script(CLOSE_USER),
  sessionsOf: script(SESSIONS_OF),
  page: script(PAGE),
  release: script(RELEASE),
  sequence: script(SEQUENCE),
} as const
