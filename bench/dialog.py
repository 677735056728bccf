"""The conversation itself: messages a citizen needs per channel, and what understanding costs.

``python -m bench.dialog`` prints, for a cooperative citizen (answers each question) and
a citizen who tells the whole story in the first message, how many messages each needs
to file a 申诉求决 on every channel: WeChat and the terminal answer options with their
number, Telegram taps buttons (the value, with the question it belongs to), the web chat
sends the button's label. It then times the understanding layer (understand + story
extraction) and the whole engine step per message over the realistic mix of bench.wechat
(same process, same texts): interpretation must stay a small share of a message's cost.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.dialogs import engine
from bot.dialogs.engine import CONFIRM, EngineConfig, load_engine_config, step
from bot.dialogs.types import Effect, Event, Resolution
from bot.domain.tracking import new_tracking_no

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime.fromisoformat("2026-11-21T09:00:00+08:00")
CHANNELS = ("wechat", "terminal", "telegram", "web")
# what the scripted citizens want to say, by field
ANSWERS = {
    "appeal_type": "claim",
    "name": "张三，13812345678，杭州市西湖区文三路100号",
    "phone": "13812345678",
    "address": "杭州市西湖区文三路100号",
    "region": "西湖区文三路与学院路交叉口",
    "incident_place": "文三路与学院路交叉口",
    "category": "labour",
    "respondent": "某某建筑公司",
    "request": "请求帮助追讨被拖欠的三个月工资。2026年8月至10月，我在某某建筑公司工地务工，"
    "公司一直拖欠工资，多次讨要无果。",
    "facts": "2026年8月至10月，我在某某建筑公司工地务工，公司一直拖欠工资，多次讨要无果。",
    "people_count": "12",
    "representatives": "张三、李四",
    "legal_status": "none",
    "reported_before": "no",
}
STORY = (
    "我叫张三，电话13812345678，住在杭州市西湖区留下街道杨家牌楼村12号。我们村十二户人家"
    "在某某建筑公司的工地干活，公司拖欠我们三个月工资，多次讨要无果。希望政府帮忙把工资要回来。"
)
LIMITS = {"cooperative": 12, "story": 8}


def _resolve(effect: Effect) -> Resolution:
    if effect.kind == "submit":
        return Resolution("submit", tracking_no=new_tracking_no(date(2026, 11, 21), "000001"))
    if effect.kind == "list_cases":
        return Resolution("list_cases")
    return Resolution(effect.kind, "none")


def _say(cfg: EngineConfig, state: dict[str, Any] | None, event: Event) -> dict[str, Any]:
    result = step(cfg, state, event, NOW)
    while result.effect is not None:
        submitted = result.effect.kind == "submit"
        result = step(cfg, result.state, Event("resolved", resolution=_resolve(result.effect)), NOW)
        if submitted:
            result.state["submitted"] = True
    return result.state


def _reply(state: dict[str, Any], want: str, channel: str) -> Event:
    """``want`` said the way ``channel`` lets a citizen say it."""
    shown = state.get("shown") or {}
    options = [tuple(o) for o in shown.get("options") or []]
    values = [v for v, _ in options]
    if want in values:
        i = values.index(want)
        if channel == "telegram":
            return Event("text", text=want, tap=str(shown["id"]))
        if channel == "web":
            return Event("text", text=options[i][1])
        return Event("text", text=str(i + 1))
    return Event("text", text=want)


def messages_to_file(cfg: EngineConfig, persona: str, channel: str) -> int:
    """How many messages the persona sends until the petition is registered."""
    state = _say(cfg, None, Event("text", text="新建" if persona == "cooperative" else STORY))
    sent = 1
    while not state.get("submitted") and sent < 60:
        draft = state.get("draft") or {}
        current = draft.get("current")
        want = "confirm" if current == CONFIRM else ANSWERS.get(str(current), "跳过")
        if persona == "story" and current == "people_count":
            want = "1"  # the story names twelve households; one of them files it online
        if current == "facts" and draft.get("buffers", {}).get("facts"):
            want = "done"
        state = _say(cfg, state, _reply(state, want, channel))
        sent += 1
    return sent


def mix_texts() -> list[str]:
    """The texts of bench/wrk/wechat_mix.lua, in the proportions the benchmark sends."""
    lua = (ROOT / "bench" / "wrk" / "wechat_mix.lua").read_text(encoding="utf-8")
    blocks = {}
    for name in ("cooperative", "story"):
        body = lua.split(f"local {name} = {{", 1)[1].split("}", 1)[0]
        blocks[name] = [p.strip().strip('"') for p in body.replace("\n", "").split('",') if p]
    return blocks["cooperative"] * 2 + blocks["story"]


def cost(cfg: EngineConfig, rounds: int) -> dict[str, float]:
    """µs per message of the whole engine step over the mix, and of the understanding
    inside it (understand and story extraction, timed where the engine calls them)."""
    texts = mix_texts()
    spent = [0.0]

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        return wrapper

    originals = {name: getattr(engine, name) for name in ("understand", "extract")}
    for name, fn in originals.items():
        setattr(engine, name, timed(fn))
    try:
        start = time.perf_counter()
        steps = 0
        for _ in range(rounds):
            state: dict[str, Any] | None = None
            for text in texts:
                state = _say(cfg, state, Event("text", text=text))
                steps += 1
        total = time.perf_counter() - start
    finally:
        for name, fn in originals.items():
            setattr(engine, name, fn)
    return {
        "understanding_us": round(spent[0] / steps * 1e6, 1),
        "engine_step_us": round(total / steps * 1e6, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dialog", description=__doc__)
    parser.add_argument("--long", action="store_true", help="more rounds of the cost timing")
    args = parser.parse_args(argv)
    cfg = load_engine_config(ROOT / "config")
    turns = {p: {c: messages_to_file(cfg, p, c) for c in CHANNELS} for p in LIMITS}
    timing = cost(cfg, 200 if args.long else 40)
    result = {"messages_to_file": turns, "limits": LIMITS, **timing}
    mix = ROOT / "bench" / "results" / "wechat_mix_webhook.json"
    if mix.exists():  # the end-to-end CPU per message of the same mix, measured by bench.wechat
        rows = json.loads(mix.read_text()).get("results", [])
        e2e = [r["cpu_us_per_req"] for r in rows if r.get("cpu_us_per_req")]
        if e2e:
            result["understanding_share_of_e2e_cpu"] = round(
                timing["understanding_us"] / min(e2e), 3
            )
    print(json.dumps(result, ensure_ascii=False, indent=2))
    over = [(p, c, n) for p, row in turns.items() for c, n in row.items() if n > LIMITS[p]]
    for p, c, n in over:
        print(f"{p} citizen on {c}: {n} messages > {LIMITS[p]}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
