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

-- The webhook accepts each signed query once (a replay with another body is refused): with
-- a pool of signed paths (bench/common.py wechat_path_pool) every request takes its own;
-- thread t of n takes entries t, t+n, t+2n, ...
local pool, stride, offset = nil, 1, 0

local function load_pool(thread_id)
  local file = os.getenv("XF_BENCH_WECHAT_PATHS")
  if not file then return end
  pool = {}
  for line in io.lines(file) do pool[#pool + 1] = line end
  stride = tonumber(os.getenv("XF_BENCH_WRK_THREADS")) or 1
  offset = thread_id
end

local function signed_path(n)
  if pool == nil then return path end
  return pool[((n - 1) * stride + offset) % #pool + 1]
end

function init(args)
  path = args[1]
  users = tonumber(args[2])
  run = args[3]
  text = args[4] or "你好"
  tid = tonumber(wrk.thread:get("tid")) or 0
  load_pool(tid)
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
  return wrk.format("POST", signed_path(counter), headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
