-- wrk script: signed WeChat text messages from citizens walking the petition form.
-- Two citizens in three answer one question at a time (about one answer in ten is
-- unclear and asked again: a filler, "很多" for a number, an emoji); the third tells the
-- whole story in its first message. Each ends with a status query and starts over, so
-- cases are registered all along. One wrk thread: every citizen's messages are sent in
-- order, each thousands of requests after the previous one.
-- args: <path with signed query> <users> <run id (digits)>
local path, users, run
local counter = 0
local step = {}

local cooperative = {
  "新建", "申诉求决", "张三，138%08d，杭州市西湖区文三路100号", "嗯",
  "西湖区文三路与学院路交叉口", "劳动社保", "某某建筑公司",
  "请求帮助追讨被拖欠的三个月工资。2026年8月至10月，我在某某建筑公司工地务工，公司一直拖欠工资，多次讨要无果。",
  "很多", "2", "没有", "👍", "否", "确认提交", "我的事项",
}
local story = {
  "我叫李四，电话139%08d，住在杭州市余杭区仓前街道高桥村5组。老板拖欠我们十二个人三个月工资，一共八万多。希望政府帮忙把工资要回来。",
  "申诉求决", "某某劳务公司", "12", "李四、王五", "1", "否", "确认提交", "查询 XF261121-048273-3",
}

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
  load_pool(0)
end

local headers = { ["Content-Type"] = "text/xml" }
local fmt = "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>" ..
  "<FromUserName><![CDATA[o-mix-%d]]></FromUserName><CreateTime>%d</CreateTime>" ..
  "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content>" ..
  "<MsgId>%s%08d</MsgId></xml>"

function request()
  counter = counter + 1
  local user = (counter * 7919) % users
  local script = (user % 3 == 0) and story or cooperative
  local n = (step[user] or 0) % #script + 1
  step[user] = n
  -- every citizen has a phone number of their own (a %08d in the text takes it)
  local text = string.gsub(script[n], "%%08d", string.format("%08d", user))
  local body = string.format(fmt, user, os.time(), text, run, counter)
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
