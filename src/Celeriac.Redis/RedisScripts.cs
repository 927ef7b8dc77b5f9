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
    /// Lua every transport script starts with: <c>T = ARGV[1]</c>, and the checks that keep a damaged record from
    /// stopping a script half way. Redis does not roll a script back, so a script that raised after its first write
    /// would leave what it had done so far (messages popped and indexed nowhere): every script therefore reads and
    /// checks first, and writes only what passed.
    /// <list type="bullet">
    /// <item><c>badkey(key, type)</c>: why <c>key</c> is unusable (another type than <c>type</c>), or nil.</item>
    /// <item><c>queueFault(q)</c> / <c>deadFault()</c>: the same for a queue's three sorted sets and for the
    /// dead-letter list and counts.</item>
    /// <item><c>record(id)</c>: the message record <c>m:&lt;id&gt;</c> as <c>{q, p, b, s, d}</c> with <c>p</c> and
    /// <c>d</c> numbers; or nil, why it is unusable ('' when there is no record at all), whether the key belongs to
    /// something else (not a hash), and the raw fields.</item>
    /// <item><c>bury(id, q, why, raw, foreign, now)</c>: moves a damaged record to the dead-letter list as
    /// <c>corrupt-record</c> (its body, when it has one, and what was wrong), deletes it unless the key is not ours,
    /// and reports it; <c>report(id, q, why)</c> only reports (an index entry dropped). Reports go back to the caller
    /// in <c>reports</c> as (id, queue, why) triples, so each is logged once.</item>
    /// </list>
    /// </summary>
    internal const string Common = """
        local T = ARGV[1]
        local reports = {}
        local function shown(v)
          if v == nil or v == false then return 'missing' end
          if v == '' then return 'empty' end
          if #v > 40 then return "'" .. string.sub(v, 1, 40) .. "...' (" .. #v .. ' bytes)' end
          return "'" .. v .. "'"
        end
        local function whole(v, low, high)
          local n = v and tonumber(v)
          if n and n == math.floor(n) and n >= low and n <= high then return n end
          return nil
        end
        local function badkey(key, want)
          local t = redis.call('TYPE', key)['ok']
          if t ~= 'none' and t ~= want then return key .. ' is a ' .. t .. ', not a ' .. want end
          return nil
        end
        local function queueFault(q)
          return badkey(T .. 'ready:' .. q, 'zset') or badkey(T .. 'delayed:' .. q, 'zset') or badkey(T .. 'leased:' .. q, 'zset')
        end
        local function deadFault()
          return badkey(T .. 'dead', 'list') or badkey(T .. 'deadcount', 'hash')
        end
        local function record(id)
          local mk = T .. 'm:' .. id
          local r = redis.pcall('HMGET', mk, 'q', 'p', 'b', 's', 'd')
          if r['err'] then return nil, mk .. ' is a ' .. redis.call('TYPE', mk)['ok'] .. ', not a hash', true, nil end
          if not (r[1] or r[2] or r[3] or r[4] or r[5]) then return nil, '', false, nil end
          local why = {}
          if not r[1] or r[1] == '' then why[#why + 1] = 'queue (q) is ' .. shown(r[1]) end
          local p = whole(r[2], -2147483648, 2147483647)
          if not p then why[#why + 1] = 'priority (p) is ' .. shown(r[2]) .. ', not a whole number in range' end
          if not r[3] then why[#why + 1] = 'body (b) is missing' end
          if not (r[4] and #r[4] == 16 and string.match(r[4], '^%d+$')) then why[#why + 1] = 'sequence (s) is ' .. shown(r[4]) .. ', not 16 digits' end
          local d = whole(r[5], 0, 2147483646)
          if not d then why[#why + 1] = 'delivery count (d) is ' .. shown(r[5]) .. ', not a whole number in range' end
          if #why > 0 then return nil, 'message record ' .. mk .. ': ' .. table.concat(why, '; '), false, r end
          return { q = r[1], p = p, b = r[3], s = r[4], d = d }, nil, false, r
        end
        local function report(id, q, why)
          reports[#reports + 1] = id
          reports[#reports + 1] = q
          reports[#reports + 1] = why
        end
        local function bury(id, q, why, raw, foreign, now)
          local body = (raw and raw[3]) or ''
          local d = (raw and whole(raw[5], 0, 2147483646)) or 0
          redis.call('LPUSH', T .. 'dead', '{"id":' .. cjson.encode(id) .. ',"queue":' .. cjson.encode(q) .. ',"body":' .. cjson.encode(body)
            .. ',"deliveryCount":' .. d .. ',"failedAt":' .. now .. ',"info":{"reason":"corrupt-record","errorType":"CorruptRecord","errorMessage":'
            .. cjson.encode(why) .. '}}')
          redis.call('HINCRBY', T .. 'deadcount', q, 1)
          if not foreign then redis.call('DEL', T .. 'm:' .. id) end
          report(id, q, why .. '; moved to the dead-letter store as corrupt-record')
        end

        """;

    /// <summary>
    /// Lua <c>grouped(first)</c>: reads (queue, token, id) triples from <c>ARGV[first]</c> on and groups them by queue as
    /// leased-set members <c>token:id</c>, keeping each triple's position; <c>held(q, group)</c> returns, per member, whether
    /// that exact lease is held (one <c>ZMSCORE</c>; none is when the leased set is not a sorted set).
    /// </summary>
    private const string Leases = Common + """
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
          local scores = redis.pcall('ZMSCORE', T .. 'leased:' .. q, unpack(g.members))
          if scores['err'] then return {} end
          return scores
        end

        """;

    /// <summary>
    /// Lua shared by every script that enqueues (the transport's send and the event store's publish), after
    /// <see cref="Common"/>. Reads the queue channel prefix <c>C = ARGV[2]</c>; <c>refusal(q, id)</c> says why a message
    /// for queue <c>q</c> with id <c>id</c> cannot be stored (a queue set or the record key of another type), or nil:
    /// callers check every message first and write only those that passed. <c>put(id, q, p, b, seq, vis, now)</c>
    /// stores one message (replacing a stored one with the same id) and queues it, ready when <c>vis</c> is '' or not
    /// after <c>now</c>, else delayed, with its <c>ZADD</c>s gathered per queue; <c>finish()</c> writes them, records
    /// the touched queues and publishes on each one's channel so receivers wake. Sequence numbers come from the
    /// caller's <c>INCRBY</c> on <c>KEYS[1]</c>.
    /// </summary>
    internal const string EnqueueCore = Common + """
        local C = ARGV[2]
        local touched, ready, delayed, faults = {}, {}, {}, {}
        local function refusal(q, id)
          local why = faults[q]
          if why == nil then
            why = queueFault(q) or false
            faults[q] = why
          end
          if why then return why end
          return badkey(T .. 'm:' .. id, 'hash')
        end
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
          if old[1] and not queueFault(old[1]) then
            flush()
            if old[2] then redis.call('ZREM', T .. 'ready:' .. old[1], old[2] .. id) end
            redis.call('ZREM', T .. 'delayed:' .. old[1], id)
            if old[2] and old[3] then redis.call('ZREM', T .. 'leased:' .. old[1], old[2] .. ':' .. old[3] .. ':' .. id) end
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
    /// idempotency key ('' = none), key expiry ('' = never), send number. Returns, per message, the id it is known
    /// under, or {why} when its send was refused: a send is stored whole or not at all, and one refused send (a key of
    /// its queue that is not a sorted set) leaves the other sends of the call stored. A damaged idempotency record
    /// counts as free and is written again. Fails before any write when the queue list or the sequence is unusable.
    /// </summary>
    public static readonly RedisScript Enqueue = new(EnqueueCore + """
        local now, n = tonumber(ARGV[3]), tonumber(ARGV[4])
        local fault = badkey(T .. 'queues', 'set') or badkey(KEYS[1], 'string')
        if fault then return redis.error_reply('CELERIAC-STORE ' .. fault) end
        local refused = {}
        for k = 1, n do
          local i = 5 + (k - 1) * 8
          local send = ARGV[i + 7]
          if not refused[send] then
            local why = refusal(ARGV[i + 1], ARGV[i])
            if not why and ARGV[i + 5] ~= '' then why = badkey(T .. 'idem:' .. ARGV[i + 5], 'hash') end
            if why then refused[send] = why end
          end
        end
        local out = {}
        local base = redis.call('INCRBY', KEYS[1], n) - n
        for k = 1, n do
          local i = 5 + (k - 1) * 8
          local id, q, p, b, vis, key, kexp, send = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
          local holder = nil
          if refused[send] then
            out[k] = { refused[send] }
          else
            if key ~= '' then
              local ik = T .. 'idem:' .. key
              local h = redis.call('HMGET', ik, 'id', 'x')
              local x = tonumber(h[2])
              if h[1] and x and x > now then
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
        end
        finish()
        return out
        """);

    /// <summary>
    /// ARGV: T, now, max, lease-until, promote limit, queue count, queues…. Checks the queues' keys first and fails,
    /// before any write, with <c>CELERIAC-QUEUE ["queue", "why"]</c> when one is not a sorted set (or
    /// <c>CELERIAC-STORE why</c> when the dead-letter keys are unusable). Then moves due delayed messages and expired
    /// leases back to ready (at their original place), and leases up to max from the heads of the ready sets, highest
    /// priority first and in sequence order across queues. Every record is checked before it is moved or leased: a
    /// damaged one is dead-lettered as <c>corrupt-record</c> (see <see cref="Common"/>) and the rest of the batch goes on.
    /// Returns {next, report count, (id, queue, why)…, then per message id, queue, priority, body, delivery count,
    /// seq}; next is the earliest delayed/leased score of the queues (-1 for none) when nothing was taken, else 0.
    /// </summary>
    public static readonly RedisScript Receive = new(Common + """
        local now, max, untilMs, limit, nq = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
        local fault = deadFault()
        if fault then return redis.error_reply('CELERIAC-STORE ' .. fault) end
        for qi = 1, nq do
          local why = queueFault(ARGV[6 + qi])
          if why then return redis.error_reply('CELERIAC-QUEUE ' .. cjson.encode({ ARGV[6 + qi], why })) end
        end
        local function promote(zkey, q, expired)
          local due = redis.call('ZRANGEBYSCORE', zkey, '-inf', now, 'LIMIT', 0, limit)
          if #due == 0 then return end
          local add = {}
          for _, member in ipairs(due) do
            local id = member
            if expired then id = string.match(member, '^%d+:%d+:(.+)$') end
            if not id then
              bury(member, q, 'leased entry ' .. shown(member) .. ' of ' .. zkey .. ' is not seq:count:id', nil, true, now)
            else
              local m, why, foreign, raw = record(id)
              if m then
                add[#add + 1] = -m.p
                add[#add + 1] = m.s .. id
                if expired then redis.call('HSET', T .. 'm:' .. id, 'l', 0) end
              elseif why == '' then
                report(id, q, 'entry of ' .. zkey .. ' has no message record; dropped')
              else
                bury(id, q, why, raw, foreign, now)
              end
            end
          end
          redis.call('ZREM', zkey, unpack(due))
          if #add > 0 then redis.call('ZADD', T .. 'ready:' .. q, unpack(add)) end
        end
        for qi = 1, nq do
          local q = ARGV[6 + qi]
          promote(T .. 'delayed:' .. q, q, false)
          promote(T .. 'leased:' .. q, q, true)
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
            for j = 1, #r, 2 do c[#c + 1] = { q, r[j], tonumber(r[j + 1]), tonumber(string.sub(r[j], 1, 16)) or 0 } end
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
        local messages, leased = {}, {}
        for _, t in ipairs(taken) do
          local q, member = t[1], t[2]
          local seq, id = string.sub(member, 1, 16), string.sub(member, 17)
          if id == '' or not string.match(seq, '^%d+$') or #seq ~= 16 then
            bury(member, q, 'ready entry ' .. shown(member) .. ' of ' .. T .. 'ready:' .. q .. ' is not a 16-digit sequence and an id', nil, true, now)
          else
            local m, why, foreign, raw = record(id)
            if m and m.s == seq then
              local d = m.d + 1
              redis.call('HSET', T .. 'm:' .. id, 'd', d, 'l', 1)
              local a = leased[q]
              if not a then a = {}; leased[q] = a end
              a[#a + 1] = untilMs
              a[#a + 1] = seq .. ':' .. d .. ':' .. id
              messages[#messages + 1] = id
              messages[#messages + 1] = q
              messages[#messages + 1] = m.p
              messages[#messages + 1] = m.b
              messages[#messages + 1] = d
              messages[#messages + 1] = seq
            elseif m then
              report(id, q, 'ready entry ' .. member .. ' is stale (the record has sequence ' .. m.s .. '); dropped')
            elseif why == '' then
              report(id, q, 'ready entry ' .. member .. ' has no message record; dropped')
            else
              bury(id, q, why, raw, foreign, now)
            end
          end
        end
        for q, a in pairs(leased) do redis.call('ZADD', T .. 'leased:' .. q, unpack(a)) end
        local next = 0
        if #messages == 0 then
          next = -1
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
        end
        local out = { next, #reports / 3 }
        for _, v in ipairs(reports) do out[#out + 1] = v end
        for _, v in ipairs(messages) do out[#out + 1] = v end
        return out
        """);

    /// <summary>
    /// ARGV: T, then (queue, token, id) triples. Deletes each message still leased with that token; returns 1/0 per
    /// triple. Reads every lease before it writes, so a leased set of another type costs only its own triples (0).
    /// </summary>
    public static readonly RedisScript Ack = new(Leases + """
        local out, keys = {}, {}
        local groups, order = grouped(2)
        local scores = {}
        for _, q in ipairs(order) do scores[q] = held(q, groups[q]) end
        for _, q in ipairs(order) do
          local g = groups[q]
          local rem, seen = {}, {}
          for j = 1, #g.members do
            if scores[q][j] and not seen[g.members[j]] then
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
        local scores = {}
        for _, q in ipairs(order) do scores[q] = held(q, groups[q]) end
        for _, q in ipairs(order) do
          local g = groups[q]
          local add = {}
          for j = 1, #g.members do
            if scores[q][j] then
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
    /// the message back (ready now, or delayed) and notifies the queue; returns 1, or 0 when the lease is stale. A
    /// record found damaged is dead-lettered as <c>corrupt-record</c> instead, and the call returns {why}.
    /// </summary>
    public static readonly RedisScript Release = new(Common + """
        local C, q, id, token, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
        local fault = queueFault(q) or deadFault()
        if fault then return redis.error_reply('CELERIAC-QUEUE ' .. cjson.encode({ q, fault })) end
        local lk, member = T .. 'leased:' .. q, token .. ':' .. id
        if not redis.call('ZSCORE', lk, member) then return 0 end
        local mk = T .. 'm:' .. id
        local m, why, foreign, raw = record(id)
        redis.call('ZREM', lk, member)
        if not m then
          if why == '' then why = 'leased message ' .. id .. ' has no record' end
          bury(id, q, why, raw, foreign, now)
          return { why }
        end
        if ARGV[8] == '1' then
          redis.call('HSET', mk, 'l', 0, 'b', ARGV[9])
        else
          redis.call('HSET', mk, 'l', 0)
        end
        local vis = ARGV[7]
        if vis == '' or tonumber(vis) <= now then
          redis.call('ZADD', T .. 'ready:' .. q, -m.p, m.s .. id)
        else
          redis.call('ZADD', T .. 'delayed:' .. q, vis, id)
        end
        redis.call('PUBLISH', C .. q, '')
        return 1
        """);

    /// <summary>
    /// ARGV: T, queue, id, token, now, info (JSON). Moves a leased message to the dead-letter list (newest first) as one
    /// JSON record and counts it per queue; returns 1, or 0 when the lease is stale. A damaged record still goes, with
    /// what it has (an empty body, delivery count 0 where those are unreadable).
    /// </summary>
    public static readonly RedisScript DeadLetter = new(Common + """
        local q, id, token = ARGV[2], ARGV[3], ARGV[4]
        local fault = deadFault()
        if fault then return redis.error_reply('CELERIAC-STORE ' .. fault) end
        local lk, member = T .. 'leased:' .. q, token .. ':' .. id
        if not redis.call('ZSCORE', lk, member) then return 0 end
        local mk = T .. 'm:' .. id
        local m = redis.pcall('HMGET', mk, 'b', 'd')
        local foreign = m['err'] ~= nil
        if foreign then m = {} end
        if not foreign then redis.call('DEL', mk) end
        redis.call('ZREM', lk, member)
        redis.call('LPUSH', T .. 'dead', '{"id":' .. cjson.encode(id) .. ',"queue":' .. cjson.encode(q) .. ',"body":' .. cjson.encode(m[1] or '')
          .. ',"deliveryCount":' .. (whole(m[2], 0, 2147483647) or 0) .. ',"failedAt":' .. ARGV[5] .. ',"info":' .. ARGV[6] .. '}')
        redis.call('HINCRBY', T .. 'deadcount', q, 1)
        return 1
        """);

    /// <summary>
    /// Lua <c>deadOf(id, all)</c>, after <see cref="Common"/>: the entries of the dead-letter list for task <c>id</c>,
    /// newest first (only the newest unless <c>all</c>), each as <c>{raw, q}</c> (<c>q</c> nil when the entry names no
    /// usable queue); entries that are not JSON objects are skipped. The list is read in chunks. <c>unbury(found)</c>
    /// removes them and lowers their queues' counts.
    /// </summary>
    private const string DeadLookup = """
        local function deadOf(id, all)
          local key, found = T .. 'dead', {}
          local n = redis.call('LLEN', key)
          for start = 0, n - 1, 1000 do
            for _, raw in ipairs(redis.call('LRANGE', key, start, start + 999)) do
              if string.find(raw, id, 1, true) then
                local ok, e = pcall(cjson.decode, raw)
                if ok and type(e) == 'table' and e['id'] == id then
                  local q = e['queue']
                  if type(q) ~= 'string' or q == '' then q = nil end
                  found[#found + 1] = { raw = raw, q = q }
                  if not all then return found end
                end
              end
            end
          end
          return found
        end
        local function unbury(found)
          for _, f in ipairs(found) do
            local removed = redis.call('LREM', T .. 'dead', 1, f.raw)
            if removed > 0 and f.q then
              local left = redis.call('HINCRBY', T .. 'deadcount', f.q, -1)
              if left <= 0 then redis.call('HDEL', T .. 'deadcount', f.q) end
            end
          end
        end

        """;

    /// <summary>ARGV: T, id. The newest dead-letter entry of the task as stored (JSON), or nil; nil too when the dead-letter keys are of another type.</summary>
    public static readonly RedisScript GetDeadLetter = new(Common + DeadLookup + """
        if deadFault() then return false end
        local found = deadOf(ARGV[2], false)
        if #found == 0 then return false end
        return found[1].raw
        """);

    /// <summary>
    /// ARGV: T, channel prefix, id, body, now. Removes the task's dead letters and enqueues the body as a fresh ready
    /// message of that id (priority 0) on the newest one's queue, replacing a stored message of that id; returns {queue}, or
    /// 0 when there is no dead letter of that id. Checks first and fails before any write when the dead-letter keys,
    /// the target queue or the sequence are unusable, or the newest entry names no queue.
    /// </summary>
    public static readonly RedisScript RequeueDeadLetter = new(EnqueueCore + DeadLookup + """
        local id, body, now = ARGV[3], ARGV[4], tonumber(ARGV[5])
        local fault = deadFault() or badkey(T .. 'queues', 'set') or badkey(KEYS[1], 'string')
        if fault then return redis.error_reply('CELERIAC-STORE ' .. fault) end
        local found = deadOf(id, true)
        if #found == 0 then return 0 end
        local q = found[1].q
        if not q then return redis.error_reply('CELERIAC-STORE the dead letter of ' .. id .. ' names no queue') end
        local why = refusal(q, id)
        if why then return redis.error_reply('CELERIAC-QUEUE ' .. cjson.encode({ q, why })) end
        unbury(found)
        put(id, q, 0, body, redis.call('INCRBY', KEYS[1], 1), '', now)
        finish()
        return { q }
        """);

    /// <summary>ARGV: T, id. Deletes the task's dead letters; returns how many (0 too when the dead-letter keys are of another type).</summary>
    public static readonly RedisScript DeleteDeadLetter = new(Common + DeadLookup + """
        if deadFault() then return 0 end
        local found = deadOf(ARGV[2], true)
        unbury(found)
        return #found
        """);

    /// <summary>ARGV: T, id. Deletes the message when it is not leased and returns its body (nil otherwise, and for a record that is not a hash).</summary>
    public static readonly RedisScript Remove = new(Common + """
        local id = ARGV[2]
        local mk = T .. 'm:' .. id
        local m = redis.pcall('HMGET', mk, 'q', 's', 'l', 'b')
        if m['err'] or not m[1] or m[3] == '1' then return false end
        if m[2] then redis.pcall('ZREM', T .. 'ready:' .. m[1], m[2] .. id) end
        redis.pcall('ZREM', T .. 'delayed:' .. m[1], id)
        redis.call('DEL', mk)
        return m[4] or ''
        """);

    /// <summary>
    /// ARGV: T, queue, limit. Deletes up to limit ready and limit delayed messages of the queue; returns {count, more}
    /// where more is 1 when a set may hold more. A set of another type is left alone.
    /// </summary>
    public static readonly RedisScript Purge = new(Common + """
        local q, limit = ARGV[2], tonumber(ARGV[3])
        local n, more = 0, 0
        for _, z in ipairs({ 'ready:', 'delayed:' }) do
          local key = T .. z .. q
          local members = redis.pcall('ZRANGE', key, 0, limit - 1)
          if members['err'] then members = {} end
          for _, member in ipairs(members) do
            local id = member
            if z == 'ready:' then id = string.sub(member, 17) end
            if id ~= '' and badkey(T .. 'm:' .. id, 'hash') == nil then redis.call('DEL', T .. 'm:' .. id) end
          end
          if #members > 0 then redis.call('ZREM', key, unpack(members)) end
          n = n + #members
          if #members == limit then more = 1 end
        end
        return { n, more }
        """);

    /// <summary>
    /// ARGV: T, now. Returns {queue, ready, delayed, leased, dead letters, head enqueued-at ms or '', …} for every known
    /// queue; a key of another type counts as empty.
    /// </summary>
    public static readonly RedisScript Stats = new(Common + """
        local now = ARGV[2]
        local function count(...)
          local r = redis.pcall(...)
          if type(r) == 'number' then return r end
          return 0
        end
        local names, seen = {}, {}
        local listed = redis.pcall('SMEMBERS', T .. 'queues')
        if listed['err'] then listed = {} end
        local dead = redis.pcall('HKEYS', T .. 'deadcount')
        if dead['err'] then dead = {} end
        for _, q in ipairs(listed) do
          if not seen[q] then seen[q] = true; names[#names + 1] = q end
        end
        for _, q in ipairs(dead) do
          if not seen[q] then seen[q] = true; names[#names + 1] = q end
        end
        local out = {}
        for _, q in ipairs(names) do
          local d, l = T .. 'delayed:' .. q, T .. 'leased:' .. q
          out[#out + 1] = q
          out[#out + 1] = count('ZCARD', T .. 'ready:' .. q) + count('ZCOUNT', d, '-inf', now) + count('ZCOUNT', l, '-inf', now)
          out[#out + 1] = count('ZCOUNT', d, '(' .. now, '+inf')
          out[#out + 1] = count('ZCOUNT', l, '(' .. now, '+inf')
          local dc = redis.pcall('HGET', T .. 'deadcount', q)
          out[#out + 1] = (type(dc) == 'string' and tonumber(dc)) or 0
          local head = redis.pcall('ZRANGE', T .. 'ready:' .. q, 0, 0)
          local enqueued = ''
          if not head['err'] and head[1] then
            local e = redis.pcall('HGET', T .. 'm:' .. string.sub(head[1], 17), 'e')
            if type(e) == 'string' and tonumber(e) then enqueued = e end
          end
          out[#out + 1] = enqueued
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
