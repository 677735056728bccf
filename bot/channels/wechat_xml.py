"""WeChat's XML, both ways: a bounded reader for what WeChat posts, a writer for passive replies.

WeChat messages are one flat ``<xml>`` element; a few events nest a block of at most
four levels (``SendPicsInfo/PicList/item/PicMd5Sum``) and carry a few dozen elements.
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
The reader refuses anything deeper or larger while it parses, before a tree exists, so
a hostile body can neither exhaust the stack nor the memory (in safe mode it is read
before msg_signature can be checked: the signature covers the ``Encrypt`` text inside it).
"""

from __future__ import annotations

import re
import time
from typing import Any
from xml.etree.ElementTree import ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

MAX_DEPTH = 6  # <xml> plus the deepest event block, with a level to spare
MAX_ELEMENTS = 200  # the largest events (SendPicsInfo with many pictures) stay far below
MAX_XML_CHARS = 64 * 1024  # WeChat's messages are a few hundred bytes

# XML 1.0 allows neither C0 control characters other than tab, LF and CR nor the
# non-characters U+FFFE/U+FFFF; a citizen's text may carry them, a reply must not
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class BadMessage(Exception):
    """The body is not a WeChat message we can read."""


class _BoundedBuilder(TreeBuilder):
    """A tree builder that stops the parse at MAX_DEPTH levels or MAX_ELEMENTS elements."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.count = 0

    def start(self, tag: Any, attrs: Any) -> Any:
        """Open an element, unless the document is already too deep or too large."""
        self.depth += 1
        self.count += 1
        if self.depth > MAX_DEPTH:
            raise BadMessage("xml too deep")
        if self.count > MAX_ELEMENTS:
            raise BadMessage("xml too many elements")
        return super().start(tag, attrs)

    def end(self, tag: Any) -> Any:
        """Close an element."""
        self.depth -= 1
        return super().end(tag)


def check_xml(xml: str) -> dict[str, Any]:
    """Read a WeChat XML message into a dict of its fields (nested blocks as dicts).

    Malformed XML, any DTD or entity declaration (WeChat never sends one), and documents
    deeper than MAX_DEPTH, with more than MAX_ELEMENTS elements or longer than
    MAX_XML_CHARS are refused with :class:`BadMessage`. One defusedxml parse is all the
    reading needed; wechatpy's parse_message would parse the same text a second time
    through xmltodict, which cost a third of the webhook's parsing time (docs/benchmarks.md).
    """
    if len(xml) > MAX_XML_CHARS:
        raise BadMessage("xml too large")
    parser = DefusedXMLParser(
        target=_BoundedBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(xml)
        root = parser.close()
    except (DefusedXmlException, ParseError) as exc:
        raise BadMessage(type(exc).__name__) from exc
    if root.tag != "xml":
        raise BadMessage("root element is not <xml>")
    return _fields(root)


def _fields(element: Any) -> dict[str, Any]:
    # recursion bounded by MAX_DEPTH; a repeated element (the <List> items of the
    # subscription-notification events) becomes a list of its values
    data: dict[str, Any] = {}
    for child in element:
        value = _fields(child) if len(child) else (child.text or "")
        if child.tag not in data:
            data[child.tag] = value
        elif isinstance(data[child.tag], _Repeated):
            data[child.tag].append(value)
        else:
            data[child.tag] = _Repeated([data[child.tag], value])
    return data


class _Repeated(list[Any]):
    """The values of an element that occurs more than once, in document order."""


def items(value: Any) -> list[Any]:
    """A field as a list: the values of a repeated element, or the one value."""
    return list(value) if isinstance(value, _Repeated) else [value]


def cdata(text: str) -> str:
    """``text`` as CDATA that survives any content: ``]]>`` is split across two sections."""
    clean = _NOT_XML.sub("", text)
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply(source: str, target: str, content: str, now: float | None = None) -> str:
    """A passive text reply (wechatpy's TextReply wraps the content in CDATA unescaped)."""
    # https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html
    created = int(time.time() if now is None else now)
    return (
        f"<xml><ToUserName>{cdata(target)}</ToUserName>"
        f"<FromUserName>{cdata(source)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )
