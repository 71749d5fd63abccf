-- wrk script: POST /v1/leads with a unique, possible US phone per request and consent.
--   wrk -t1 -c64 -d22s -s bench/wrk/leads.lua URL/v1/leads -- <api key> <phase digit 2-9> [20] [offset]
-- Phones: <phase digit><2-digit thread><7-digit counter>, so every request of a run is a new
-- lead (each phase posts to its own org, so phases never collide). Counts answers by status and
-- prints one JSON line prefixed with "WRK_JSON " at the end.
local threads = {}
local counter = 0
-- `tid` is a global set by setup() through thread:set (a local here would shadow it)
local key = ""
local phase = "2"
-- per-status counters are globals: thread:get copies numbers, not tables
CODES = {200, 201, 400, 401, 404, 413, 422, 429, 500, 503}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  key = args[1] or ""
  phase = args[2] or "2"
  -- optional 3rd argument: post for this many seconds, then let every connection finish its
  -- request in flight and go idle (delay() below), so that every request sent is answered and
  -- counted before wrk stops (wrk abandons in-flight requests when its -d runs out)
  local post_seconds = tonumber(args[3] or "0")
  -- optional 4th argument: start the counter there (successive runs into one org stay unique)
  counter = tonumber(args[4] or "0")
  deadline = post_seconds > 0 and (os.time() + post_seconds) or nil
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
  for _, c in ipairs(CODES) do _G["s" .. c] = 0 end
  s_other = 0
end

function request()
  counter = counter + 1
  local phone = string.format("%s%02d%07d", phase, tid, counter)
  local body = '{"source":"wrk","first_name":"Jane","phone":"' .. phone ..
    '","state":"TX","consent":{"consent_timestamp":"2026-07-05T12:00:00Z",' ..
    '"consent_text_version":"webform-v2","source_url":"https://example.com/quote"}}'
  return wrk.format(nil, nil, nil, body)
end

function delay()
  if deadline ~= nil and os.time() >= deadline then
    return 3600000
  end
  return 0
end

function response(status, headers, body)
  local name = "s" .. status
  if _G[name] ~= nil then _G[name] = _G[name] + 1 else s_other = s_other + 1 end
end

function done(summary, latency, requests)
  local by_status = {}
  for _, t in ipairs(threads) do
    for _, c in ipairs(CODES) do
      by_status[tostring(c)] = (by_status[tostring(c)] or 0) + (t:get("s" .. c) or 0)
    end
    by_status["other"] = (by_status["other"] or 0) + (t:get("s_other") or 0)
  end
  local parts = {}
  for code, n in pairs(by_status) do
    if n > 0 then table.insert(parts, string.format('"%s":%d', code, n)) end
  end
  local pct = {}
  for _, p in ipairs({50, 90, 99, 99.9}) do
    table.insert(pct, string.format('"%s":%d', tostring(p), latency:percentile(p)))
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d},"statuses":{%s},"latency_us":{%s},"latency_mean_us":%.1f,' ..
    '"latency_max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    table.concat(parts, ","), table.concat(pct, ","), latency.mean, latency.max))
end
