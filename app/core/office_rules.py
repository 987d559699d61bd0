"""Shipped keyword rules that propose a lead office for a typical township (乡镇).

An admin edits the rules per office in the UI; these are the defaults installed for offices whose
name or short name matches. Order matters: the first keyword found in a commitment's lead (then
in its text) wins, so specific keywords come before general ones.
"""

from __future__ import annotations

# (keyword, office names it may belong to, tried in order)
DEFAULT_RULES: list[tuple[str, tuple[str, ...]]] = [
    ("信访", ("信访办", "信访办公室")),
    ("矛盾纠纷", ("司法所",)),
    ("人民调解", ("司法所",)),
    ("法律援助", ("司法所",)),
    ("公共法律服务", ("司法所",)),
    ("普法", ("司法所",)),
    ("法治宣传", ("司法所",)),
    ("宣传", ("司法所",)),
    ("合法性审查", ("司法所", "党政办")),
    ("规范性文件", ("党政办", "党政办公室")),
    ("决策", ("党政办", "党政办公室")),
    ("政务公开", ("党政办", "党政办公室")),
    ("信息公开", ("党政办", "党政办公室")),
    ("学法", ("党政办", "党政办公室")),
    ("培训", ("党政办", "党政办公室")),
    ("执法", ("综合执法办", "综合行政执法办公室")),
    ("安全生产", ("平安办", "应急办")),
    ("平安", ("平安办", "平安法治办公室")),
    ("综治", ("平安办", "平安法治办公室")),
    ("社会救助", ("社会事务办", "社会事务办公室")),
    ("民生", ("社会事务办", "社会事务办公室")),
]


def default_rules_for(offices: dict[str, int]) -> list[tuple[str, int, int]]:
    """(keyword, office id, position) for the OFFICES present, given by name or short name."""
    chosen: list[tuple[str, int, int]] = []
    for position, (keyword, names) in enumerate(DEFAULT_RULES, start=1):
        office_id = next((offices[n] for n in names if n in offices), None)
        if office_id is not None:
            chosen.append((keyword, office_id, position * 10))
    return chosen
