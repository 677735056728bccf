-- wrk script: signed WeChat text messages, each with a fresh MsgId, from a pool of users.
-- args: <path with signed query> <users> <run id (digits)> <text>
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
  run = args[3]
  text = args[4] or "你好"
  tid = tonumber(wrk.thread:get("tid")) or 0
end

local headers = { ["Content-Type"] = "text/xml" }
local fmt = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>" ..
  "<FromUserName><![CDATA[o-bench-%d]]></FromUserName><CreateTime>%d</CreateTime>" ..
  "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content>" ..
  "<MsgId>%s%d%08d</MsgId></xml>"

function request()
  counter = counter + 1
  local user = (counter * 7919 + tid) % users
  local body = string.format(fmt, user, os.time(), text, run, tid, counter)
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
