"""Fields read out of one item's text: deadline, lead office, measures, quantified facts.

Deadlines and offices are searched in the item with whitespace removed, so that a phrase broken
by a hard wrap (9月底\\n前) is found and returned joined.
"""

from __future__ import annotations

import re

from app.core.report_types import Fact

_Y = r"(?:20\d\d年)?"
_MONTH = r"(?:1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])月"
_DAY = r"(?:[0-3]?\d日|[一二三]?十[一二三四五六七八九]?日|[一二三四五六七八九]日)"
_TIME_RE = re.compile(
    rf"{_Y}{_MONTH}{_DAY}?(?:[上中下]旬|底|末|份)?(?:以前|之前|前|内)?"
    rf"|{_Y}(?:年底|年末)(?:以前|之前|前)?"
    r"|20\d\d年(?:底|末)(?:以前|之前|前)?"
    r"|20\d\d年度?内"
    rf"|{_Y}(?:上半年|下半年)"
    rf"|{_Y}(?:第[一二三四1-4]|前[一二三]|[一二三四])季度(?:末|底|前|内)?"
    r"|(?:本|今)年度?(?:内|底前|年底前)"
    r"|年度?内"
    r"|暑期|暑假|寒假|(?:春节|国庆|汛期|汛)前"
)
_TIME_LABEL_RE = re.compile(r"(?:完成时限|完成时间|时间节点|时限要求|时限)[：:]")
_NOT_BEFORE_BARE_YEAR = frozenset("每0123456789一二三四五六七八九十两几近多")

_OFFICE_LABEL_RE = re.compile(
    r"(?:牵头单位|牵头科室|牵头部门|牵头股室|责任单位|责任部门|责任科室|责任股室|主责单位|负责单位"
    r"|承办单位|实施单位|牵头)[：:]"
)
_OFFICE_BY_RE = re.compile(r"由([^，。；：,;:（）()]{1,30}?)(?:具体)?(?:牵头|负责|组织实施)(?!人)")
_OFFICE_PAREN_RE = re.compile(
    r"[（(]([^（）()，,；;。：:]{1,30}?)(?:牵头|负责)(?:[，,、][^（）()]{0,40})?[）)]"
)
# A clause that is only an office and 牵头 (…，司法所牵头，各村配合。).
_OFFICE_BARE_RE = re.compile(
    r"(?:^|[，。；：,;:])([^，。；：,;:（）()由]{2,15}?)牵头(?=[，,；;。]|$)"
)
_ORG_END_RE = re.compile(
    r"(?:政府|办事处|委员会|局|委|办公室|办|科|股|室|所|站|队|中心|院|部|处|组|会|街道|镇|乡|村|社区)$"
)
_OFFICE_STOP = frozenset("；;。，,\n")
_ANNOTATION_RE = re.compile(
    r"^[（(]?(?:牵头|责任|配合|完成时限|完成时间|时间节点|时限|主责|负责单位)[^。；;]{0,60}[）)]?$"
)

_FACT_UNIT = (
    r"个工作日|个百分点|平方米|公里|小时|万?亿?元|万(?:人次|件|份|人|户|册)|%|％|‰|倍"
    r"|[件次场名人项份条家户期起篇处所批座套台本册轮张宗部支天个](?:[（(][^（）()\d]{1,3}[）)])?次?"
)
_FACT_RE = re.compile(rf"(\d+(?:\.\d+)?)(余|多)?({_FACT_UNIT})")
_FACT_STOPS = frozenset('，。；：、,;:（）()“”"《》\n！？!?')
_FACT_LOOKBACK = 24
_METRIC_PREFIX_RE = re.compile(
    r"^(?:今年以来|本年度|全年|年内|今年|目前|截至目前|共计|累计|共|先后|已经|已|其中|有效|均|另|并|还"
    r"|同时|此外|依法|全部|总计|合计)"
)
_METRIC_SUFFIX_RE = re.compile(
    r"(?:达到了|达到|提高到|提升至|提升到|增加到|增长到|上升到|突破|超过|约为|约|近|逾|为|达|至|到|计|共|由)$"
)
_TRAILING_NOTE_RE = re.compile(
    r"[，,]\s*[（(]?(?:牵头|责任|配合|主责|负责单位|完成时限|完成时间|时间节点|时限)[^，,。]{0,8}[：:].*$"
)
_SENTENCE_SPLIT_RE = re.compile(r"[。；;！？!?]|(?<!\d)\.|\.(?!\d)")
_LINE_BREAK_RE = re.compile(r"\s*\n\s*")
_WORD_RE = re.compile(r"\w")


def compact(text: str) -> str:
    return "".join(text.split())


def time_phrase(text: str) -> str | None:
    """The first deadline or time window in TEXT (6月底前, 第三季度, 2022年内…), joined."""
    s = compact(text)
    found: list[tuple[int, str]] = []
    for match in _TIME_RE.finditer(s):
        if _is_deadline(s, match):
            found.append((match.start(), match.group(0)))
            break
    for match in _TIME_LABEL_RE.finditer(s):
        value = _label_value(s, match.end())
        if value == "全年" or value.startswith("全年"):
            found.append((match.end(), "全年"))
            break
    return min(found)[1] if found else None


def _is_deadline(s: str, match: re.Match[str]) -> bool:
    phrase = match.group(0)
    before = s[match.start() - 1] if match.start() > 0 else ""
    if before == "每" or s[max(0, match.start() - 2) : match.start()] == "每年":
        return False  # a frequency (每季度, 每年6月), not a deadline
    if phrase.startswith(("年内", "年度内")) and before in _NOT_BEFORE_BARE_YEAR:
        return False  # 三年内 is a span, 2022年内 was matched whole
    if "月" in phrase and not phrase.startswith("20"):
        # A bare month (6月) is a date only with a day or a 底/前/内 word after it.
        return phrase[-1] in "前内底末旬份日"
    return True


def _label_value(s: str, start: int) -> str:
    end = start
    while end < len(s) and end - start < 30 and s[end] not in _OFFICE_STOP and s[end] not in "）)":
        end += 1
    return s[start:end]


def office(text: str) -> str | None:
    """The lead office named in TEXT: 牵头科室：…, 责任单位：…, 由…牵头/负责, （…牵头）."""
    s = compact(text)
    label = _OFFICE_LABEL_RE.search(s)
    if label:
        value = _office_value(s, label.end())
        if value:
            return value
    candidates = []
    by = _OFFICE_BY_RE.search(s)
    if by:
        candidates.append((by.start(), by.group(1)))
    paren = _OFFICE_PAREN_RE.search(s)
    if paren:
        candidates.append((paren.start(), paren.group(1)))
    for bare in _OFFICE_BARE_RE.finditer(s):
        if _ORG_END_RE.search(bare.group(1)):
            candidates.append((bare.start(1), bare.group(1)))
            break
    return min(candidates)[1] if candidates else None


def _office_value(s: str, start: int) -> str:
    """The value after a label: up to a clause break, an unmatched closing bracket or a
    配合 (supporting units) note."""
    depth = 0
    end = start
    while end < len(s) and end - start < 60:
        ch = s[end]
        if ch in _OFFICE_STOP or s.startswith("配合", end):
            break
        if ch in "（(":
            depth += 1
        elif ch in "）)":
            if depth == 0:
                break
            depth -= 1
        end += 1
    value = s[start:end]
    if depth:  # cut inside a bracket, e.g. 县司法局（配合…: drop the open bracket
        value = value[: max(value.rfind("（"), value.rfind("("))]
    return value.rstrip("、等")


def measures(text: str, lead_end: int) -> tuple[str, ...]:
    """The sentences of TEXT after the lead (which ends at LEAD_END), without notes such as
    （牵头科室：…）; line breaks inside a sentence are removed."""
    rest = text[lead_end:]
    rest = rest[1:] if rest[:1] and rest[0] in "。，,：:；;.．" else rest
    out = []
    for piece in _SENTENCE_SPLIT_RE.split(rest):
        sentence = piece.strip(" \t\u3000\n，,")
        if "\n" in sentence:
            sentence = _LINE_BREAK_RE.sub("", sentence)
        sentence = _TRAILING_NOTE_RE.sub("", sentence)
        if sentence and not _ANNOTATION_RE.match(sentence) and _WORD_RE.search(sentence):
            out.append(sentence)
    return tuple(out)


def facts(text: str) -> tuple[Fact, ...]:
    """Quantified facts: 调处化解矛盾纠纷209件 → Fact(调处化解矛盾纠纷, 209, 件)."""
    found = []
    for match in _FACT_RE.finditer(text):
        start = match.start()
        if start > 0 and (text[start - 1].isdigit() or text[start - 1] in ".第"):
            continue
        metric, metric_start = _metric_before(text, start)
        if not metric:
            continue
        number = float(match.group(1))
        value: float = int(number) if number.is_integer() else number
        found.append(Fact(metric, value, match.group(3), text[metric_start : match.end()]))
    return tuple(found)


def _metric_before(text: str, end: int) -> tuple[str, int]:
    """The words naming a number ending at END: back to the last clause break, without
    fillers such as 今年以来/共/累计 in front and 达/为/至 behind."""
    start = end
    floor = max(0, end - _FACT_LOOKBACK)
    while start > floor and text[start - 1] not in _FACT_STOPS and not text[start - 1].isdigit():
        start -= 1
    metric = text[start:end]
    while True:
        trimmed = _METRIC_PREFIX_RE.sub("", metric)
        if trimmed == metric:
            break
        start += len(metric) - len(trimmed)
        metric = trimmed
    metric = metric.strip()
    while (trimmed := _METRIC_SUFFIX_RE.sub("", metric)) != metric:
        metric = trimmed
    return metric, start
