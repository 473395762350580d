-- wrk script: POST pre-signed Stripe events, each thread cycling through its own file.
-- Usage: wrk -s cycle.lua URL -- <file prefix> ; thread k reads "<prefix>-<k>.tsv", whose
-- lines are "<Stripe-Signature>\t<JSON body>". Prints one JSON line of results at the end.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1] .. "-" .. id .. ".tsv"
  requests = {}
  for line in io.lines(path) do
    local tab = line:find("\t", 1, true)
    requests[#requests + 1] = wrk.format("POST", wrk.path, {
      ["Content-Type"] = "application/json",
      ["Stripe-Signature"] = line:sub(1, tab - 1),
    }, line:sub(tab + 1))
  end
  if #requests == 0 then error("no requests in " .. path) end
  position = 0
  wrapped = 0     -- times this thread ran out of events and started again (duplicates)
  not_2xx = 0
end

function request()
  position = position + 1
  if position > #requests then
    position = 1
    wrapped = wrapped + 1
  end
  return requests[position]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    not_2xx = not_2xx + 1
    if not_2xx <= 3 then io.stderr:write("non-2xx answer " .. status .. ": " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local not_2xx, wrapped = 0, 0
  for _, thread in ipairs(threads) do
    not_2xx = not_2xx + thread:get("not_2xx")
    wrapped = wrapped + thread:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests": %d, "duration_us": %d, "not_2xx": %d, "wrapped": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, not_2xx, wrapped,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
