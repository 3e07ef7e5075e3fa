-- wrk's script for the load benchmark (benches/load/run).
--
-- With WRITE_CYCLE set, each thread alternates a create of its own language and that language's
-- delete; run it with one connection per thread so that each delete follows its create. Every
-- run prints one line: requests per second, p50 and p99 latency in microseconds, the count of
-- responses that were not 2xx or 3xx, and the count of socket errors and timeouts.

local write_cycle = os.getenv("WRITE_CYCLE") ~= nil
local counter = 0
-- Each thread has the global `name`, set by setup(): "Load test N".
-- Whether this thread's language exists: the last create answered 201, and no delete since.
local created = false

function setup(thread)
  counter = counter + 1
  thread:set("name", "Load test " .. counter)
end

function request()
  if not write_cycle then
    return wrk.format(nil)
  end
  if created then
    return wrk.format("DELETE", "/programming_languages/" .. name:gsub(" ", "%%20"))
  end
  return wrk.format("POST", "/programming_languages", { ["Content-Type"] = "application/json" },
    '{"name": "' .. name .. '", "publication_year": 2024, "contribution": "a load test"}')
end

if write_cycle then
  -- wrk may ask for a request it does not send: the cycle follows the answers, not the asks.
  function response(status)
    if status == 201 then
      created = true
    elseif status == 200 then
      created = false
    end
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("RESULT %.0f %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
