-- lib.lua: helpers prepended to every script of this folder (Redis scripts
-- cannot call each other). Every key a script touches carries the configured
-- prefix, and with it one Cluster hash tag, so keys a script derives from
-- the prefix (prefix .. ':session:' .. id) live in the slot of its KEYS.

-- emit appends one event to a session: it takes the next seq of the session
-- (HINCRBY on its hash), splices it in front of the JSON object body,
-- appends the result to the session's stream with the explicit id seq-0
-- (capped to maxlen, approximately) and publishes it on channel. Returns the seq.
local function emit(session_key, stream_key, channel, body, maxlen)
  local seq = redis.call('HINCRBY', session_key, 'seq', 1)
  local ev = '{"seq":' .. seq .. ',' .. string.sub(body, 2)
  redis.call('XADD', stream_key, 'MAXLEN', '~', maxlen, seq .. '-0', 'e', ev)
  redis.call('PUBLISH', channel, ev)
  return seq
end

-- open_session reads the id and state of the session at key, in one
-- round trip. It returns them, or nil and the error reply to return: SB:not_found
-- when there is no such session, SB:ended when it has ended.
local function open_session(key)
  local h = redis.call('HMGET', key, 'id', 'state')
  if not h[1] then
    return nil, nil, redis.error_reply('SB:not_found')
  elseif h[2] == 'Ended' then
    return nil, nil, redis.error_reply('SB:ended')
  end
  return h[1], h[2]
end

-- may_act reports whether a party may act on the open session at key (in
-- state): its customer, its agent while the session is in Agent, or a
-- privileged party (supervisor, admin, the system) whatever the state.
local function may_act(key, state, role, id, privileged)
  if privileged == '1' then
    return true
  elseif role == 'customer' then
    return redis.call('HGET', key, 'customer_id') == id
  elseif role == 'agent' then
    return state == 'Agent' and redis.call('HGET', key, 'agent_id') == id
  end
  return false
end

-- refuse returns the error for a party may_act refused: SB:forbidden to
-- the session's own customer or agent (it may read it, not do this now),
-- SB:not_found to anyone else, so that session ids cannot be probed.
local function refuse(key, role, id)
  local h = redis.call('HMGET', key, 'customer_id', 'agent_id')
  if role == 'customer' and h[1] == id or role == 'agent' and h[2] == id then
    return redis.error_reply('SB:forbidden')
  end
  return redis.error_reply('SB:not_found')
end

-- open_for reads the open session at key and checks that the party may
-- act on it: it returns its id and state, or nil and the error reply
-- (SB:not_found, SB:ended, SB:forbidden).
local function open_for(key, role, id, privileged)
  local sid, state, err = open_session(key)
  if err then
    return nil, nil, err
  elseif not may_act(key, state, role, id, privileged) then
    return nil, nil, refuse(key, role, id)
  end
  return sid, state
end

-- prune drops from the indexes up to limit ended sessions whose retention
-- ran out by now (idx:expiry is scored by that moment). Their hashes and
-- streams expire on their own TTL. Returns how many it dropped.
local function prune(prefix, now, limit)
  local expiry = prefix .. ':idx:expiry'
  local ids = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, limit)
  if #ids > 0 then
    redis.call('ZREM', expiry, unpack(ids))
    redis.call('ZREM', prefix .. ':idx:all', unpack(ids))
    redis.call('ZREM', prefix .. ':idx:Ended', unpack(ids))
  end
  return #ids
end

