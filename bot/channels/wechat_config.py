"""config/wechat.yaml: the menu, template and subscription-notification fields, QR scenes.

Each block is checked against WeChat's own limits when it is read (start-up and
``xinfang check-config``), so a mistake is reported by the bot, not by a refused API call:

- menu: at most 3 buttons, each with at most 5 sub-buttons; names of at most 16 bytes
  (top) and 60 bytes (sub); ``click`` keys of at most 128 bytes, ``view`` URLs of at most
  1024 bytes. https://developers.weixin.qq.com/doc/offiaccount/Custom_Menus/Creating_Custom-Defined_Menu.html
- subscribe: 订阅通知 templates, each with its consent kind (``long`` for 长期订阅, ``once``
  for 一次性订阅) and typed fields like the template message's.
  https://developers.weixin.qq.com/doc/offiaccount/Subscription_Messages/intro.html
- scenes: parametric QR code scenes (``scene_str``, 1 to 64 characters), the greeting
  each one adds and the choices it pre-selects (checked against the form by check-config).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.channels.wechat_templates import TemplateError, Templates, parse_templates
from bot.dialogs.form import Form

MAX_BUTTONS = 3
MAX_SUB_BUTTONS = 5
MAX_NAME_BYTES = 16  # a top-level button: 4 汉字 or 16 letters
MAX_SUB_NAME_BYTES = 60
MAX_KEY_BYTES = 128
MAX_URL_BYTES = 1024
MAX_SCENE_CHARS = 64
BUTTON_TYPES = frozenset({"click", "view"})
# the bot's own pages a view button may name (``page: my``): path under XINFANG_PUBLIC_URL
PAGES = {"my": "/my"}
CONSENT_KINDS = frozenset({"long", "once"})
# a view button to one of PAGES: (page path) -> the URL the menu carries
PageUrl = Callable[[str], str]


class WeChatConfigError(Exception):
    """config/wechat.yaml is missing or invalid."""


@dataclass(frozen=True, slots=True)
class SubscribeTemplate:
    """One 订阅通知 template: its id, its consent kind and its fields per notice kind."""

    id: str
    long_term: bool
    templates: Templates


@dataclass(frozen=True, slots=True)
class Scene:
    """A parametric QR code scene (a poster's place), its greeting per language, and what
    it pre-selects in a petition started from it ((field role, choice value) pairs)."""

    name: str
    greeting: dict[str, str]
    preselect: tuple[tuple[str, str], ...] = ()

    def greet(self, lang: str) -> str:
        """The greeting in ``lang``, else in Chinese."""
        return self.greeting.get(lang) or self.greeting.get("zh", "")


@dataclass(frozen=True, slots=True)
class WeChatConfig:
    """What config/wechat.yaml declares."""

    buttons: tuple[dict[str, Any], ...]
    commands: dict[str, str]
    templates: Templates
    subscribe: tuple[SubscribeTemplate, ...] = ()
    scenes: Mapping[str, Scene] | None = None

    def menu(self, page_url: PageUrl | None = None) -> dict[str, Any]:
        """The menu/create request body; ``page_url`` builds the URL of ``page:`` buttons."""
        return {"button": [_menu_button(b, page_url) for b in self.buttons]}

    def pages(self) -> list[str]:
        """The bot pages the menu's view buttons open."""
        found = []
        for button in self.buttons:
            for b in [button, *(button.get("sub_button") or [])]:
                if b.get("page"):
                    found.append(PAGES[str(b["page"])])
        return found

    def scene(self, name: str) -> Scene | None:
        """A configured scene by its scene_str."""
        return (self.scenes or {}).get(name)

    def preselect_problems(self, form: Form) -> list[str]:
        """Scene pre-selections ``form`` cannot take: a role it lacks, a value not among
        the choices of the field with that role."""
        problems = []
        for scene in (self.scenes or {}).values():
            for role, value in scene.preselect:
                f = form.by_role(role)
                if f is None or not f.choices:
                    problems.append(f"scene {scene.name}: the form has no choice field {role}")
                elif f.choice(value) is None:
                    problems.append(f"scene {scene.name}: {value!r} is not a choice of {role}")
        return problems

    def subscribe_template(self, template_id: str) -> SubscribeTemplate | None:
        """A configured subscription template by its id."""
        return next((t for t in self.subscribe if t.id == template_id), None)


def _menu_button(button: dict[str, Any], page_url: PageUrl | None) -> dict[str, Any]:
    if "sub_button" in button:
        return {
            "name": button["name"],
            "sub_button": [_menu_button(b, page_url) for b in button["sub_button"]],
        }
    out = {k: v for k, v in button.items() if k != "page"}
    if button.get("page"):
        if page_url is None:
            raise WeChatConfigError(
                f"menu button {button['name']} opens the case page: set XINFANG_PUBLIC_URL"
            )
        out["url"] = page_url(PAGES[str(button["page"])])
    return out


def load_config(config_dir: Path) -> WeChatConfig:
    """Read and validate config/wechat.yaml."""
    path = config_dir / "wechat.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WeChatConfigError(f"{path}: {exc}") from exc
    return parse_config(data, str(path))


def parse_config(data: Mapping[str, Any], where: str) -> WeChatConfig:
    """Validate the parsed YAML of config/wechat.yaml."""
    menu = data.get("menu") or {}
    buttons = menu.get("buttons") or []
    commands = {str(k): str(v) for k, v in (menu.get("commands") or {}).items()}
    check_menu(buttons, commands, where)
    template_block = data.get("template") or {}
    try:
        templates = parse_templates(template_block, where)
        subscribe = _parse_subscribe(data.get("subscribe") or {}, template_block, where)
    except TemplateError as exc:
        raise WeChatConfigError(str(exc)) from exc
    return WeChatConfig(
        buttons=tuple(buttons),
        commands=commands,
        templates=templates,
        subscribe=subscribe,
        scenes=_parse_scenes(data.get("scenes") or {}, where),
    )


def check_menu(buttons: Any, commands: Mapping[str, str], where: str) -> None:
    """WeChat's menu limits: 3 buttons × 5 sub-buttons, name/key/URL lengths, types."""
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        raise WeChatConfigError(f"{where}: menu.buttons must list 1 to {MAX_BUTTONS} buttons")
    for button in buttons:
        _check_button(button, commands, where, top=True)


def _check_button(button: Any, commands: Mapping[str, str], where: str, *, top: bool) -> None:
    if not isinstance(button, dict) or not button.get("name"):
        raise WeChatConfigError(f"{where}: every menu button needs a name")
    name = str(button["name"])
    limit = MAX_NAME_BYTES if top else MAX_SUB_NAME_BYTES
    if len(name.encode("utf-8")) > limit:
        raise WeChatConfigError(f"{where}: menu button {name}: name over {limit} bytes")
    if "sub_button" in button:
        subs = button["sub_button"]
        if not top:
            raise WeChatConfigError(f"{where}: menu button {name}: sub-buttons nest one level")
        if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB_BUTTONS:
            raise WeChatConfigError(
                f"{where}: menu button {name} must list 1 to {MAX_SUB_BUTTONS} sub-buttons"
            )
        for sub in subs:
            _check_button(sub, commands, where, top=False)
        return
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        raise WeChatConfigError(f"{where}: menu button {name}: type must be click or view")
    if kind == "click":
        key = str(button.get("key") or "")
        if not key or len(key.encode("utf-8")) > MAX_KEY_BYTES:
            raise WeChatConfigError(f"{where}: menu button {name}: key of 1 to 128 bytes")
        if key not in commands:
            raise WeChatConfigError(f"{where}: menu key {key} has no command")
        return
    page, url = button.get("page"), str(button.get("url") or "")
    if bool(page) == bool(url):
        raise WeChatConfigError(f"{where}: view button {name} needs a page or a url, not both")
    if page and str(page) not in PAGES:
        raise WeChatConfigError(f"{where}: view button {name}: unknown page {page}")
    too_long = len(url.encode("utf-8")) > MAX_URL_BYTES
    if url and (not url.startswith(("https://", "http://")) or too_long):
        raise WeChatConfigError(f"{where}: view button {name}: an http(s) url of ≤ 1024 bytes")


def _parse_subscribe(
    block: Mapping[str, Any], template_block: Mapping[str, Any], where: str
) -> tuple[SubscribeTemplate, ...]:
    raw = block.get("templates") or []
    if not isinstance(raw, list):
        raise WeChatConfigError(f"{where}: subscribe.templates must be a list")
    found: list[SubscribeTemplate] = []
    for entry in raw:
        if not isinstance(entry, dict) or not str(entry.get("id") or "").strip():
            raise WeChatConfigError(f"{where}: every subscribe template needs an id")
        template_id = str(entry["id"]).strip()
        consent = str(entry.get("consent") or "")
        if consent not in CONSENT_KINDS:
            raise WeChatConfigError(
                f"{where}: subscribe template {template_id}: consent must be long or once"
            )
        # the notice kinds' words are the template message's; the fields are this template's
        spec = {"fields": entry.get("fields") or {}, "notices": template_block.get("notices")}
        templates = parse_templates(spec, f"{where}: subscribe {template_id}")
        if not templates.notice("default").fields:
            raise WeChatConfigError(f"{where}: subscribe template {template_id} has no fields")
        found.append(SubscribeTemplate(template_id, consent == "long", templates))
    if len({t.id for t in found}) != len(found):
        raise WeChatConfigError(f"{where}: a subscribe template is listed twice")
    return tuple(found)


def _parse_scenes(block: Any, where: str) -> dict[str, Scene]:
    if not isinstance(block, dict):
        raise WeChatConfigError(f"{where}: scenes must map scene names to greetings")
    scenes: dict[str, Scene] = {}
    for name, spec in block.items():
        name = str(name)
        if not 1 <= len(name) <= MAX_SCENE_CHARS:
            raise WeChatConfigError(f"{where}: scene {name}: 1 to {MAX_SCENE_CHARS} characters")
        if not isinstance(spec, dict) or not str(spec.get("zh") or "").strip():
            raise WeChatConfigError(f"{where}: scene {name} needs a zh greeting")
        chosen = spec.get("preselect") or {}
        if not isinstance(chosen, dict):
            raise WeChatConfigError(f"{where}: scene {name}: preselect maps roles to choices")
        greeting = {str(k): str(v) for k, v in spec.items() if k != "preselect"}
        preselect = tuple((str(k), str(v)) for k, v in chosen.items())
        scenes[name] = Scene(name, greeting, preselect)
    return scenes
