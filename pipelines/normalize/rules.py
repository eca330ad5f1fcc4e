"""Syslog alert rules as data (TOML): which messages become events, with what component, severity and clear."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

SEVERITIES = frozenset({"ok", "info", "warning", "critical", "unknown"})
_RULE_KEYS = frozenset(
    {
        "name",
        "pair",
        "description",
        "cisco",
        "app_name",
        "contains",
        "icontains",
        "msg",
        "component",
        "severity",
        "state",
        "clear",
        "ignore",
        "category",
        "resolve_after",
    }
)
# %FACILITY[-SUBFACILITY]-SEVERITY-MNEMONIC: as Cisco writes it at the start of the message text
_CISCO_IN_MSG = re.compile(r"%(?P<fac>[A-Z0-9_]+(?:-[A-Z0-9_]+)*?)-(?P<sev>[0-7])-(?P<mn>[A-Z0-9_]+):?")
_CISCO_RULE = re.compile(r"^%?(?P<fac>[A-Z0-9_]+(?:-[A-Z0-9_]+)*?)(?:-[0-7])?-(?P<mn>[A-Z0-9_]+):?$")
_FIELD = re.compile(r"\{(\w+)\}")


class RuleError(ValueError):
    """A rule file that cannot be used; the message names the rule and the field."""


class _Groups(dict):
    """Format map where absent or unmatched groups read as empty strings."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass(slots=True, frozen=True)
class Rule:
    """One compiled syslog rule: guards first (cheap), then the regex."""

    name: str
    pair: str
    regex: re.Pattern[str]
    component: str
    severity: str
    cisco: tuple[str, ...] = ()
    app_names: frozenset[str] | None = None
    contains: tuple[str, ...] = ()
    icontains: tuple[str, ...] = ()
    state_group: str | None = None
    clear_states: frozenset[str] = frozenset()
    ignore_states: frozenset[str] = frozenset()
    clear_all: bool = False
    category: str | None = None
    resolve_after: float | None = None
    description: str = ""
    # set when component is exactly "{group}": skip str.format on the hot path
    component_group: str | None = None


@dataclass(slots=True)
class RuleMatch:
    """What a rule made of one message: its component and whether it is a clear."""

    rule: Rule
    component: str
    clear: bool
    mnemonic: str | None


def _str_list(rule_name: str, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RuleError(f"rule {rule_name!r}: {key} must be a string or a list of strings")


def compile_rule(spec: dict[str, Any], index: int = 0) -> Rule:
    """Validate and compile one [[rule]] table, naming the rule and field on error."""
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise RuleError(f"rule #{index + 1}: name is required (a non-empty string)")
    unknown = set(spec) - _RULE_KEYS
    if unknown:
        raise RuleError(f"rule {name!r}: unknown field(s) {', '.join(sorted(unknown))}")
    pattern = spec.get("msg")
    if not isinstance(pattern, str) or not pattern:
        raise RuleError(f"rule {name!r}: msg (a regular expression) is required")
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise RuleError(f"rule {name!r}: msg is not a valid regular expression: {exc}") from exc
    groups = set(regex.groupindex)
    component = spec.get("component", "")
    if not isinstance(component, str):
        raise RuleError(f"rule {name!r}: component must be a template string such as '{{intf}}'")
    for field in _FIELD.findall(component):
        if field not in groups:
            raise RuleError(
                f"rule {name!r}: component uses {{{field}}} but msg has no group (?P<{field}>...)"
            )
    single = _FIELD.fullmatch(component)
    severity = spec.get("severity", "warning")
    if severity not in SEVERITIES:
        raise RuleError(f"rule {name!r}: severity must be one of {', '.join(sorted(SEVERITIES))}")
    state_group = spec.get("state")
    clear = spec.get("clear", ())
    clear_all = clear is True
    if state_group is not None and state_group not in groups:
        raise RuleError(f"rule {name!r}: state names group {state_group!r} that msg does not define")
    if not clear_all and clear and state_group is None:
        raise RuleError(f"rule {name!r}: clear lists state values but no state group is named")
    clear_states = (
        frozenset()
        if clear_all or clear is False
        else frozenset(v.lower() for v in _str_list(name, "clear", clear))
    )
    cisco_keys = []
    for mnemonic in _str_list(name, "cisco", spec.get("cisco")):
        m = _CISCO_RULE.match(mnemonic)
        if not m:
            raise RuleError(f"rule {name!r}: cisco mnemonic {mnemonic!r} is not FACILITY-[SEVERITY-]MNEMONIC")
        cisco_keys.append(f"{m['fac']}-{m['mn']}")
    app_names = _str_list(name, "app_name", spec.get("app_name"))
    resolve_after = spec.get("resolve_after")
    if resolve_after is not None and (not isinstance(resolve_after, int | float) or resolve_after <= 0):
        raise RuleError(f"rule {name!r}: resolve_after must be a positive number of seconds")
    return Rule(
        name=name,
        pair=spec.get("pair", name),
        regex=regex,
        component=component,
        severity=severity,
        cisco=tuple(cisco_keys),
        app_names=frozenset(app_names) if app_names else None,
        contains=_str_list(name, "contains", spec.get("contains")),
        icontains=tuple(s.lower() for s in _str_list(name, "icontains", spec.get("icontains"))),
        state_group=state_group,
        clear_states=clear_states,
        ignore_states=frozenset(v.lower() for v in _str_list(name, "ignore", spec.get("ignore"))),
        clear_all=clear_all,
        category=spec.get("category"),
        resolve_after=float(resolve_after) if resolve_after is not None else None,
        description=spec.get("description", ""),
        component_group=single.group(1) if single else None,
    )


def _apply(rule: Rule, msg: str, mnemonic: str | None) -> RuleMatch | None:
    """Run the regex of one rule whose guards passed; None when it does not match or is ignored."""
    m = rule.regex.search(msg)
    if m is None:
        return None
    clear = rule.clear_all
    if rule.state_group is not None:
        state = m.group(rule.state_group)
        if state is not None:
            state = state.lower()
            if state in rule.ignore_states:
                return None
            clear = state in rule.clear_states
    if rule.component_group is not None:
        component = m.group(rule.component_group) or ""
    elif rule.component:
        component = rule.component.format_map(_Groups({k: v for k, v in m.groupdict().items() if v}))
    else:
        component = ""
    return RuleMatch(rule, component.strip().rstrip(".,;:"), clear, mnemonic)


def _guard(rules: tuple[Rule, ...]) -> re.Pattern[str] | None:
    """One alternation of every generic rule's literals; None when some rule has no literal guard."""
    parts = []
    for rule in rules:
        if not rule.contains and not rule.icontains:
            return None
        parts.extend(re.escape(s) for s in rule.contains)
        parts.extend(f"(?i:{re.escape(s)})" for s in rule.icontains)
    return re.compile("|".join(parts)) if parts else None


def _guard_literals(rules: tuple[Rule, ...]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The guard's literals for plain `in` tests (far cheaper than the alternation); None unless all ASCII.

    For an ASCII message and ASCII literals, a case-insensitive regex hit is exactly a hit in msg.lower();
    other messages or literals keep the regex (Unicode case folding differs from str.lower).
    """
    contains = tuple(dict.fromkeys(s for r in rules for s in r.contains))
    icontains = tuple(dict.fromkeys(s for r in rules for s in r.icontains))
    if not all(s.isascii() for s in contains + icontains):
        return None
    return contains, icontains


def _any_in(literals: tuple[str, ...], text: str) -> bool:
    for s in literals:  # a plain loop: cheaper than any() over a generator for a handful of literals
        if s in text:
            return True
    return False


def _raw_filter(
    cisco_keys: list[str], generic: tuple[Rule, ...], literals: tuple[tuple[str, ...], tuple[str, ...]] | None
) -> tuple[re.Pattern[bytes] | None, tuple[bytes, ...], tuple[bytes, ...]] | None:
    """What RuleSet.could_match tests on raw bytes; None when some generic rule has no ASCII literal guard.

    A Cisco rule keyed "FAC-MN" can only meet a message whose raw bytes hold "%FAC-" (the parser reads
    the facility after a literal "%"); a facility may itself contain hyphens, so every prefix before a
    hyphen is a candidate. A generic rule can only match a message holding one of its literals.
    """
    if generic and literals is None:
        return None
    facilities: set[str] = set()
    for key in cisco_keys:
        parts = key.split("-")
        facilities.update("-".join(parts[:i]) for i in range(1, len(parts)))
    cisco = (re.compile(b"%(?:" + b"|".join(re.escape(f.encode()) for f in sorted(facilities)) + b")-")
             if facilities else None)
    contains, icontains = literals if literals is not None else ((), ())
    return cisco, tuple(s.encode() for s in contains), tuple(s.lower().encode() for s in icontains)


class RuleSet:
    """Ordered rules, indexed by Cisco mnemonic so a message only meets the rules that can match it."""

    __slots__ = ("rules", "_by_cisco", "_generic", "_guard", "_literals", "_raw")

    def __init__(self, rules: list[Rule]) -> None:
        names = [r.name for r in rules]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise RuleError(f"duplicate rule name(s): {', '.join(sorted(dupes))}")
        self.rules = tuple(rules)
        by_cisco: dict[str, list[Rule]] = {}
        for rule in rules:
            for key in rule.cisco:
                by_cisco.setdefault(key, []).append(rule)
        self._by_cisco = {k: tuple(v) for k, v in by_cisco.items()}
        self._generic = tuple(r for r in rules if not r.cisco)
        self._guard = _guard(self._generic)
        self._literals = _guard_literals(self._generic) if self._guard is not None else None
        self._raw = _raw_filter(list(self._by_cisco), self._generic,
                                self._literals if self._generic else ((), ()))

    def could_match(self, raw: bytes) -> bool:
        """False only when no rule can match any message parsed from these raw bytes: most syslog (the
        connection logs above all) is no alert, and normalize skips parsing it. Never False for a hit."""
        f = self._raw
        if f is None:
            return True
        cisco, contains, icontains = f
        if cisco is not None and cisco.search(raw) is not None:
            return True
        if not (contains or icontains):
            return False
        if not raw.isascii():
            return True  # decoding and Unicode case folding are the parser's and match()'s business
        for s in contains:
            if s in raw:
                return True
        if icontains:
            low = raw.lower()
            for s in icontains:
                if s in low:
                    return True
        return False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleSet:
        specs = data.get("rule", [])
        if not isinstance(specs, list):
            raise RuleError("rules file: expected [[rule]] tables")
        return cls([compile_rule(spec, i) for i, spec in enumerate(specs)])

    @classmethod
    def from_toml(cls, text: str) -> RuleSet:
        try:
            return cls.from_dict(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise RuleError(f"rules file: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path) -> RuleSet:
        return cls.from_toml(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def default(cls) -> RuleSet:
        """The rules shipped in default_rules.toml."""
        text = resources.files(__package__).joinpath("default_rules.toml").read_text(encoding="utf-8")
        return cls.from_toml(text)

    def match(
        self, msg: str, app_name: str | None = None, cisco: dict[str, Any] | None = None
    ) -> RuleMatch | None:
        """First rule matching the message: mnemonic-indexed rules, then generic ones in file order."""
        mnemonic = None
        if cisco:
            mnemonic = f"{cisco.get('facility')}-{cisco.get('severity')}-{cisco.get('mnemonic')}"
            key = f"{cisco.get('facility')}-{cisco.get('mnemonic')}"
        elif "%" in msg:
            cm = _CISCO_IN_MSG.search(msg)
            key = f"{cm['fac']}-{cm['mn']}" if cm else None
            if cm:
                mnemonic = f"{cm['fac']}-{cm['sev']}-{cm['mn']}"
        else:
            key = None
        if key is not None:
            for rule in self._by_cisco.get(key, ()):
                if rule.app_names is not None and app_name not in rule.app_names:
                    continue
                found = _apply(rule, msg, mnemonic)
                if found is not None:
                    return found
        lowered: str | None = None
        if self._guard is not None:
            # most messages: no generic rule's literal occurs, one pass says so
            literals = self._literals
            if literals is not None and msg.isascii():
                if not _any_in(literals[0], msg):
                    if not literals[1]:
                        return None
                    lowered = msg.lower()
                    if not _any_in(literals[1], lowered):
                        return None
            elif self._guard.search(msg) is None:
                return None
        for rule in self._generic:
            if rule.app_names is not None and app_name not in rule.app_names:
                continue
            if rule.contains and not any(s in msg for s in rule.contains):
                continue
            if rule.icontains:
                if lowered is None:
                    lowered = msg.lower()
                if not any(s in lowered for s in rule.icontains):
                    continue
            found = _apply(rule, msg, mnemonic)
            if found is not None:
                return found
        return None
