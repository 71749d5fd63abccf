-- wrk script: POST /v1/leads with a unique, possible US phone per request and consent.
--   wrk -t1 -c64 -d20s -s bench/wrk/leads.lua URL/v1/leads -- <api key> <phase digit 2-9>
-- Phones: <phase digit><2-digit thread><7-digit counter>, so every request of a run is a new
-- lead (each phase posts to its own org, so phases never collide). Counts answers by status and
-- prints one JSON line prefixed with "WRK_JSON " at the end.
local threads = {}
local counter = 0
local tid = 0
local key = ""
local phase = "2"
local statuses = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  key = args[1] or ""
  phase = args[2] or "2"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
  statuses = {}
end

function request()
  counter = counter + 1
  local phone = string.format("%s%02d%07d", phase, tid, counter)
  local body = '{"source":"wrk","first_name":"Jane","phone":"' .. phone ..
    '","state":"TX","consent":{"consent_timestamp":"2026-07-05T12:00:00Z",' ..
    '"consent_text_version":"webform-v2","source_url":"https://example.com/quote"}}'
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local by_status = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do
      by_status[code] = (by_status[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(by_status) do
    table.insert(parts, string.format('"%d":%d', code, n))
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
