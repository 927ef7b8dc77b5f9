namespace Celeriac.Redis;

/// <summary>
/// The Lua scripts behind every transport state change; each runs atomically on the server. Scripts get the
/// transport key prefix (with its hash tag) as <c>ARGV[1]</c> and build key names from it; <c>KEYS[1]</c> is always the
/// sequence key, so a cluster routes the call to the slot that holds every transport key. "Now" comes from the
/// client's <see cref="TimeProvider"/>, never from Redis <c>TIME</c>.
/// <para>
/// Per message, a hash <c>m:&lt;id&gt;</c>: <c>q</c> queue, <c>p</c> priority, <c>b</c> body, <c>s</c> sequence (16 digits,
/// zero-padded), <c>d</c> delivery count, <c>l</c> leased (0/1). Per queue, three sorted sets: <c>ready:&lt;q&gt;</c>
/// (score −priority, member <c>s..id</c>, so equal scores order by sequence),
/// <c>delayed:&lt;q&gt;</c> (score visible-at in Unix ms, member id) and <c>leased:&lt;q&gt;</c> (score lease end in Unix ms,
/// member <c>s:d:id</c>). The lease token is <c>s:d</c>, so "leased with this token" is one sorted-set lookup of
/// <c>token:id</c>, which a batch of acks or renewals does with one <c>ZMSCORE</c> per queue.
/// </para>
/// </summary>
internal static class RedisScripts
{
    /// <summary>
    /// Lua <c>grouped(first)</c>: reads (queue, token, id) triples from <c>ARGV[first]</c> on and groups them by queue as
    /// leased-set members <c>token:id</c>, keeping each triple's position; <c>held(q, group)</c> returns, per member, whether
    /// that exact lease is held (one <c>ZMSCORE</c>).
    /// </summary>
    private const string Leases = """
        local T = ARGV[1]
        local function grouped(first)
          local groups, order = {}, {}
          for i = first, #ARGV, 3 do
            local q = ARGV[i]
            local g = groups[q]
            if not g then g = { members = {}, ids = {}, pos = {} }; groups[q] = g; order[#order + 1] = q end
            g.members[#g.members + 1] = ARGV[i + 1] .. ':' .. ARGV[i + 2]
            g.ids[#g.ids + 1] = ARGV[i + 2]
            g.pos[#g.pos + 1] = (i - first) / 3 + 1
          end
          return groups, order
        end
        local function held(q, g)
          return redis.call('ZMSCORE', T .. 'leased:' .. q, unpack(g.members))
        end

        """;

    /// <summary>
    /// Lua shared by every script that enqueues (the transport's send and the event store's publish). Reads
    /// <c>T = ARGV[1]</c> and the queue channel prefix <c>C = ARGV[2]</c>; <c>put(id, q, p, b, seq, vis, now)</c> stores one
    /// message (replacing a stored one with the same id) and queues it, ready when <c>vis</c> is '' or not after
    /// <c>now</c>, else delayed, with its <c>ZADD</c>s gathered per queue; <c>finish()</c> writes them, records the touched
    /// queues and publishes on each one's channel so receivers wake. Sequence numbers come from the caller's <c>INCRBY</c>
    /// on <c>KEYS[1]</c>.
    /// </summary>
    internal const string EnqueueCore = """
        local T, C = ARGV[1], ARGV[2]
        local touched, ready, delayed = {}, {}, {}
        local function flush()
          for q, a in pairs(ready) do redis.call('ZADD', T .. 'ready:' .. q, unpack(a)) end
          for q, a in pairs(delayed) do redis.call('ZADD', T .. 'delayed:' .. q, unpack(a)) end
          ready, delayed = {}, {}
        end
        local function push(t, q, score, member)
          local a = t[q]
          if not a then a = {}; t[q] = a end
          a[#a + 1] = score
          a[#a + 1] = member
        end
        local function put(id, q, p, b, seq, vis, now)
          local mk = T .. 'm:' .. id
          local old = redis.call('HMGET', mk, 'q', 's', 'd')
          if old[1] then
            flush()
            redis.call('ZREM', T .. 'ready:' .. old[1], old[2] .. id)
            redis.call('ZREM', T .. 'delayed:' .. old[1], id)
            redis.call('ZREM', T .. 'leased:' .. old[1], old[2] .. ':' .. old[3] .. ':' .. id)
          end
          local s = string.format('%016.0f', seq)
          redis.call('HSET', mk, 'q', q, 'p', p, 'b', b, 's', s, 'd', 0, 'l', 0, 'e', now)
          if vis == '' or tonumber(vis) <= now then
            push(ready, q, -tonumber(p), s .. id)
          else
            push(delayed, q, vis, id)
          end
          touched[q] = true
        end
        local function finish()
          flush()
          for q in pairs(touched) do
            redis.call('SADD', T .. 'queues', q)
            redis.call('PUBLISH', C .. q, '')
          end
        end

        """;

    /// <summary>
    /// ARGV: T, channel prefix, now, n, then per message: id, queue, priority, body, visible-at ('' = now),
    /// idempotency key ('' = none), key expiry ('' = never). Returns the id each message is known under.
    /// </summary>
    public static readonly RedisScript Enqueue = new(EnqueueCore + """
        local now, n = tonumber(ARGV[3]), tonumber(ARGV[4])
        local out = {}
        local base = redis.call('INCRBY', KEYS[1], n) - n
        local i = 5
        for k = 1, n do
          local id, q, p, b, vis, key, kexp = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
          i = i + 7
          local holder = nil
          if key ~= '' then
            local ik = T .. 'idem:' .. key
            local h = redis.call('HMGET', ik, 'id', 'x')
            if h[1] and tonumber(h[2]) > now then
              holder = h[1]
            elseif kexp ~= '' then
              redis.call('HSET', ik, 'id', id, 'x', kexp)
              redis.call('PEXPIRE', ik, math.max(1, tonumber(kexp) - now))
            else
              redis.call('HSET', ik, 'id', id, 'x', '9007199254740991')
              redis.call('PERSIST', ik)
            end
          end
          if holder then
            out[k] = holder
          else
            put(id, q, p, b, base + k, vis, now)
            out[k] = id
          end
        end
        finish()
        return out
        """);

    /// <summary>
    /// ARGV: T, now, max, lease-until, promote limit, queue count, queues…. Moves due delayed messages and expired
    /// leases back to ready (at their original place), then leases up to max from the heads of the ready sets, highest
    /// priority first and in sequence order across queues. Returns {next, id, queue, priority, body, delivery count,
    /// seq, …}; next is the earliest delayed/leased score of the queues (-1 for none) when nothing was taken, else 0.
    /// </summary>
    public static readonly RedisScript Receive = new("""
        local T, now, max, untilMs, limit, nq = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
        local function promote(zkey, ready, expired)
          local due = redis.call('ZRANGEBYSCORE', zkey, '-inf', now, 'LIMIT', 0, limit)
          if #due == 0 then return end
          local add = {}
          for _, member in ipairs(due) do
            local id = member
            if expired then id = string.match(member, '^%d+:%d+:(.*)$') end
            local mk = T .. 'm:' .. id
            local m = redis.call('HMGET', mk, 'p', 's')
            if m[1] then
              add[#add + 1] = -tonumber(m[1])
              add[#add + 1] = m[2] .. id
              if expired then redis.call('HSET', mk, 'l', 0) end
            end
          end
          redis.call('ZREM', zkey, unpack(due))
          if #add > 0 then redis.call('ZADD', ready, unpack(add)) end
        end
        for qi = 1, nq do
          local q = ARGV[6 + qi]
          local ready = T .. 'ready:' .. q
          promote(T .. 'delayed:' .. q, ready, false)
          promote(T .. 'leased:' .. q, ready, true)
        end
        local taken = {}
        if nq == 1 then
          local r = redis.call('ZPOPMIN', T .. 'ready:' .. ARGV[7], max)
          for j = 1, #r, 2 do taken[#taken + 1] = { ARGV[7], r[j] } end
        else
          local c = {}
          for qi = 1, nq do
            local q = ARGV[6 + qi]
            local r = redis.call('ZRANGE', T .. 'ready:' .. q, 0, max - 1, 'WITHSCORES')
            for j = 1, #r, 2 do c[#c + 1] = { q, r[j], tonumber(r[j + 1]), tonumber(string.sub(r[j], 1, 16)) } end
          end
          table.sort(c, function(a, b)
            if a[3] ~= b[3] then return a[3] < b[3] end
            return a[4] < b[4]
          end)
          local rem = {}
          for j = 1, math.min(max, #c) do
            local a = rem[c[j][1]]
            if not a then a = {}; rem[c[j][1]] = a end
            a[#a + 1] = c[j][2]
            taken[#taken + 1] = c[j]
          end
          for q, a in pairs(rem) do redis.call('ZREM', T .. 'ready:' .. q, unpack(a)) end
        end
        local out, leased = { 0 }, {}
        for _, t in ipairs(taken) do
          local q, seq, id = t[1], string.sub(t[2], 1, 16), string.sub(t[2], 17)
          local mk = T .. 'm:' .. id
          local m = redis.call('HMGET', mk, 'p', 'b', 's', 'd')
          -- A member whose message was replaced or deleted meanwhile is dropped.
          if m[3] == seq then
            local d = tonumber(m[4]) + 1
            redis.call('HSET', mk, 'd', d, 'l', 1)
            local a = leased[q]
            if not a then a = {}; leased[q] = a end
            a[#a + 1] = untilMs
            a[#a + 1] = seq .. ':' .. d .. ':' .. id
            out[#out + 1] = id
            out[#out + 1] = q
            out[#out + 1] = m[1]
            out[#out + 1] = m[2]
            out[#out + 1] = d
            out[#out + 1] = seq
          end
        end
        for q, a in pairs(leased) do redis.call('ZADD', T .. 'leased:' .. q, unpack(a)) end
        if #out == 1 then
          local next = -1
          for qi = 1, nq do
            local q = ARGV[6 + qi]
            for _, z in ipairs({ 'delayed:', 'leased:' }) do
              local first = redis.call('ZRANGE', T .. z .. q, 0, 0, 'WITHSCORES')
              if first[2] then
                local v = tonumber(first[2])
                if next < 0 or v < next then next = v end
              end
            end
          end
          out[1] = next
        end
        return out
        """);

    /// <summary>ARGV: T, then (queue, token, id) triples. Deletes each message still leased with that token; returns 1/0 per triple.</summary>
    public static readonly RedisScript Ack = new(Leases + """
        local out, keys = {}, {}
        local groups, order = grouped(2)
        for _, q in ipairs(order) do
          local g = groups[q]
          local scores, rem, seen = held(q, g), {}, {}
          for j = 1, #g.members do
            if scores[j] and not seen[g.members[j]] then
              seen[g.members[j]] = true
              rem[#rem + 1] = g.members[j]
              keys[#keys + 1] = T .. 'm:' .. g.ids[j]
              out[g.pos[j]] = 1
            else
              out[g.pos[j]] = 0
            end
          end
          if #rem > 0 then redis.call('ZREM', T .. 'leased:' .. q, unpack(rem)) end
        end
        if #keys > 0 then redis.call('DEL', unpack(keys)) end
        return out
        """);

    /// <summary>ARGV: T, lease-until, then (queue, token, id) triples. Extends each lease still held; returns 1/0 per triple.</summary>
    public static readonly RedisScript Renew = new(Leases + """
        local out = {}
        local groups, order = grouped(3)
        for _, q in ipairs(order) do
          local g = groups[q]
          local scores, add = held(q, g), {}
          for j = 1, #g.members do
            if scores[j] then
              add[#add + 1] = ARGV[2]
              add[#add + 1] = g.members[j]
              out[g.pos[j]] = 1
            else
              out[g.pos[j]] = 0
            end
          end
          if #add > 0 then redis.call('ZADD', T .. 'leased:' .. q, 'XX', unpack(add)) end
        end
        return out
        """);

    /// <summary>
    /// ARGV: T, channel prefix, queue, id, token, now, visible-at ('' = now), '1' when a new body follows, body. Gives
    /// the message back (ready now, or delayed) and notifies the queue; returns 1, or 0 when the lease is stale.
    /// </summary>
    public static readonly RedisScript Release = new("""
        local T, C, q, id, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
        local lk, member = T .. 'leased:' .. q, token .. ':' .. id
        if not redis.call('ZSCORE', lk, member) then return 0 end
        local mk = T .. 'm:' .. id
        local m = redis.call('HMGET', mk, 'p', 's')
        redis.call('ZREM', lk, member)
        if ARGV[8] == '1' then
          redis.call('HSET', mk, 'l', 0, 'b', ARGV[9])
        else
          redis.call('HSET', mk, 'l', 0)
        end
        local vis = ARGV[7]
        if vis == '' or tonumber(vis) <= tonumber(ARGV[6]) then
          redis.call('ZADD', T .. 'ready:' .. q, -tonumber(m[1]), m[2] .. id)
        else
          redis.call('ZADD', T .. 'delayed:' .. q, vis, id)
        end
        redis.call('PUBLISH', C .. q, '')
        return 1
        """);

    /// <summary>
    /// ARGV: T, queue, id, token, now, info (JSON). Moves a leased message to the dead-letter list (newest first) as one
    /// JSON record and counts it per queue; returns 1, or 0 when the lease is stale.
    /// </summary>
    public static readonly RedisScript DeadLetter = new("""
        local T, q, id, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
        local lk, member = T .. 'leased:' .. q, token .. ':' .. id
        if not redis.call('ZSCORE', lk, member) then return 0 end
        local mk = T .. 'm:' .. id
        local m = redis.call('HMGET', mk, 'b', 'd')
        redis.call('DEL', mk)
        redis.call('ZREM', lk, member)
        redis.call('LPUSH', T .. 'dead', '{"id":' .. cjson.encode(id) .. ',"queue":' .. cjson.encode(q) .. ',"body":' .. cjson.encode(m[1])
          .. ',"deliveryCount":' .. m[2] .. ',"failedAt":' .. ARGV[5] .. ',"info":' .. ARGV[6] .. '}')
        redis.call('HINCRBY', T .. 'deadcount', q, 1)
        return 1
        """);

    /// <summary>ARGV: T, id. Deletes the message when it is not leased and returns its body (nil otherwise).</summary>
    public static readonly RedisScript Remove = new("""
        local T, id = ARGV[1], ARGV[2]
        local mk = T .. 'm:' .. id
        local m = redis.call('HMGET', mk, 'q', 's', 'l', 'b')
        if not m[1] or m[3] == '1' then return false end
        redis.call('DEL', mk)
        redis.call('ZREM', T .. 'ready:' .. m[1], m[2] .. id)
        redis.call('ZREM', T .. 'delayed:' .. m[1], id)
        return m[4]
        """);

    /// <summary>
    /// ARGV: T, queue, limit. Deletes up to limit ready and limit delayed messages of the queue; returns {count, more}
    /// where more is 1 when a set may hold more.
    /// </summary>
    public static readonly RedisScript Purge = new("""
        local T, q, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
        local n, more = 0, 0
        for _, z in ipairs({ 'ready:', 'delayed:' }) do
          local key = T .. z .. q
          local members = redis.call('ZRANGE', key, 0, limit - 1)
          for _, member in ipairs(members) do
            local id = member
            if z == 'ready:' then id = string.sub(member, 17) end
            redis.call('DEL', T .. 'm:' .. id)
          end
          if #members > 0 then redis.call('ZREM', key, unpack(members)) end
          n = n + #members
          if #members == limit then more = 1 end
        end
        return { n, more }
        """);

    /// <summary>ARGV: T, now. Returns {queue, ready, delayed, leased, dead letters, head enqueued-at ms or '', …} for every known queue.</summary>
    public static readonly RedisScript Stats = new("""
        local T, now = ARGV[1], ARGV[2]
        local names, seen = {}, {}
        for _, q in ipairs(redis.call('SMEMBERS', T .. 'queues')) do
          if not seen[q] then seen[q] = true; names[#names + 1] = q end
        end
        for _, q in ipairs(redis.call('HKEYS', T .. 'deadcount')) do
          if not seen[q] then seen[q] = true; names[#names + 1] = q end
        end
        local out = {}
        for _, q in ipairs(names) do
          local d, l = T .. 'delayed:' .. q, T .. 'leased:' .. q
          out[#out + 1] = q
          out[#out + 1] = redis.call('ZCARD', T .. 'ready:' .. q) + redis.call('ZCOUNT', d, '-inf', now) + redis.call('ZCOUNT', l, '-inf', now)
          out[#out + 1] = redis.call('ZCOUNT', d, '(' .. now, '+inf')
          out[#out + 1] = redis.call('ZCOUNT', l, '(' .. now, '+inf')
          out[#out + 1] = tonumber(redis.call('HGET', T .. 'deadcount', q) or '0')
          local head = redis.call('ZRANGE', T .. 'ready:' .. q, 0, 0)[1]
          out[#out + 1] = head and redis.call('HGET', T .. 'm:' .. string.sub(head, 17), 'e') or ''
        end
        return out
        """);

    /// <summary>
    /// KEYS: result keys. ARGV: channel, '1' to always announce (cluster), then per key: record, ttl ms ('' = none), task
    /// id to announce ('' = none). Writes every record; announces the terminal ones on the result channel when anyone
    /// subscribes to it (<c>PUBSUB NUMSUB</c>; a subscriber that comes later reads the record after subscribing). In a
    /// cluster subscribers may sit on other nodes, so there every terminal record is announced.
    /// </summary>
    public static readonly RedisScript SetResults = new("""
        local announce = ARGV[2] == '1' or redis.call('PUBSUB', 'NUMSUB', ARGV[1])[2] > 0
        for k = 1, #KEYS do
          local a = 3 + (k - 1) * 3
          if ARGV[a + 1] == '' then
            redis.call('SET', KEYS[k], ARGV[a])
          else
            redis.call('SET', KEYS[k], ARGV[a], 'PX', ARGV[a + 1])
          end
          if announce and ARGV[a + 2] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[a + 2]) end
        end
        return #KEYS
        """);

    /// <summary>KEYS: lock key. ARGV: token, lease ms. Extends the lease when the token still holds it.</summary>
    public static readonly RedisScript RenewLock = new("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        return 0
        """);

    /// <summary>KEYS: lock key. ARGV: token. Deletes the lock when the token still holds it.</summary>
    public static readonly RedisScript ReleaseLock = new("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('DEL', KEYS[1])
          return 1
        end
        return 0
        """);
}
