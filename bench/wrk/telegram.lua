-- wrk script: Telegram webhook updates with fresh update_ids, from a pool of private chats.
-- args: <path> <users> <run id (digits)> <text>
local path, users, run, text
local counter = 0
local threads = {}
local tid = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  users = tonumber(args[2])
  run = tonumber(args[3])
  text = args[4] or "你好"
  tid = tonumber(wrk.thread:get("tid")) or 0
end

local headers = {
  ["Content-Type"] = "application/json",
  ["X-Telegram-Bot-Api-Secret-Token"] = "bench-secret",
}
local fmt = '{"update_id": %d, "message": {"message_id": %d, "date": %d, "text": "%s", ' ..
  '"chat": {"id": %d, "type": "private", "first_name": "b"}, ' ..
  '"from": {"id": %d, "is_bot": false, "first_name": "b", "language_code": "zh-hans"}}}'

function request()
  counter = counter + 1
  local user = 7000000 + (counter * 7919 + tid) % users
  local update_id = run * 1000000000 + tid * 100000000 + counter
  local body = string.format(fmt, update_id, counter, os.time(), text, user, user)
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
