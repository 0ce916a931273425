"""Prompt-injection screening of untrusted text before it is placed into an LLM prompt.

A heuristic tripwire, not a proof of safety: it catches the cheap, common attacks (override phrases,
fake chat structure, hidden unicode, encoded payloads) so they are blocked or routed to human review,
and it is tuned not to fire on ordinary analytics prose, tables and identifiers.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

SCORE_CAP = 5.0  # the score is a sum, capped so one noisy document cannot dwarf the thresholds

# Per-rule weight of one finding: a clear override blocks on its own (1.0); a weaker hint only flags (0.5),
# two distinct hints together block.
WEIGHTS: dict[str, float] = {
    "instruction_override": 1.0,
    "override_hint": 0.5,
    "role_marker": 0.5,  # "system:" lines and <system> tags: rare but possible in real documents
    "chat_token": 1.0,  # <|im_start|>, [INST], <<SYS>>: never part of analytics text
    "invisible_char": 0.5,  # zero-width chars splitting an ASCII word: evasion
    "bidi_control": 0.5,  # reorders what a human reviewer sees
    "tag_chars": 1.0,  # invisible ASCII: there is no legitimate reason to hide text from the reviewer
}
INVISIBLE_STRAY = 0.2  # a zero-width char outside a word is usually copy-paste noise: evidence, not a flag


class Verdict(StrEnum):
    """What the caller should do with the text."""

    allow = "allow"
    flag = "flag"
    block = "block"


class Finding(BaseModel):
    """One rule that fired; the excerpt escapes invisible characters so a reviewer can actually see them."""

    model_config = ConfigDict(frozen=True)

    rule: str
    excerpt: str = Field(max_length=80)
    weight: float = Field(ge=0)


class Screening(BaseModel):
    """The outcome of :func:`screen`: a verdict, the summed score and the evidence behind it."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    score: float
    findings: tuple[Finding, ...]

    @property
    def reason(self) -> str:
        """One line for a human-review queue: the verdict, the score and the rules that fired."""
        if not self.findings:
            return f"{self.verdict}: no rules fired"
        rules = ", ".join(dict.fromkeys(f.rule for f in self.findings))
        return f"{self.verdict} (score {self.score:.2f}): {rules}"


def _rx(pattern: str) -> re.Pattern[str]:
    """A space in ``pattern`` means any run of whitespace/punctuation, so padding tricks do not evade it."""
    return re.compile(pattern.replace(" ", r"[\W_]+"), re.IGNORECASE | re.MULTILINE)


_VERB = r"(?:ignore|disregard|forget|override|bypass|skip)"
_FILL = r"(?:(?:all|any|the|of|your|my|these|those|every|each|its) ){0,3}"
_PRIOR = r"(?:previous|prior|above|earlier|preceding|foregoing|initial|original|system|developer)"
_NOUN = r"(?:instructions?|prompts?|rules|directions|guidelines|directives|context|messages|commands"
_NOUN += r"|constraints|guardrails)"
_ADJ = r"(?:(?:full|entire|original|hidden|initial|secret|exact) )?"
_SHOW = r"(?:reveal|print|show|repeat|output|display|leak|dump)"
_NOT_ACT_AS = r"(?! (?:soon|quickly|fast|needed|necessary|required|well|much|long|far|early|planned|usual)\b)"

# Overrides need an instruction noun next to "previous"/"above": that is what keeps human notes such as
# "ignore the outlier in March" or "disregard the previous version" from firing.
_H = r"[\x20\t]"  # horizontal whitespace, spelled without a space (a space means a separator to _rx)
_SOURCES: dict[str, tuple[str, ...]] = {
    "instruction_override": (
        rf"\b{_VERB} {_FILL}{_PRIOR} {_NOUN}\b",
        rf"\b(?:ignore|disregard|forget) {_FILL}{_NOUN} (?:above|before|so far)\b",
        r"\bforget everything\b",
        r"\b(?:ignore|disregard) everything (?:above|before|prior|previous|you)\b",
        r"\bnew (?:system )?instructions?\s*:",
        rf"\b(?:{_SHOW}|tell me|give me|what (?:is|are)) (?:me |us )?your {_ADJ}"
        r"(?:system prompt|instructions|prompt|rules|guidelines)\b",
        rf"\b{_SHOW} (?:me |us )?the {_ADJ}system prompt\b",
        r"\bdo(?: not|n\W?t) follow (?:(?:any|the|these|those|of|all) ){0,2}"
        rf"(?:your|previous|prior|above|earlier|original|system|initial) (?:\w+ )?{_NOUN}\b",
        r"\b(?:enable|enter|activate|switch to|turn on|unlock) (?:the )?"
        r"(?:developer|dev|dan|god|jailbreak|unrestricted) mode\b",
        r"\bdo anything now\b",
    ),
    "override_hint": (
        r"\bsystem prompts?\b",
        r"\bjailbr(?:eak|eaks|eaking|oken)\b",
        r"\b(?:developer|dan|god) mode\b",
        rf"(?:^[\W_]*|[.!?;:]\s*|\b(?:you|please) )act as\b{_NOT_ACT_AS}",
        r"\b(?:pretend (?:to be|you are|that you are|you\W?re)|roleplay as)\b",
        r"\byou are now (?:a|an|my|no longer|called|named|dan|free|unrestricted|unfiltered|uncensored"
        r"|jailbroken|acting|going to)\b",
        r"\b(?:bypass|ignore|disable|turn off) (?:all )?your (?:safety |content )?"
        r"(?:filters?|guardrails|restrictions|safeguards|moderation|rules)\b",
    ),
    "role_marker": (
        r"^[\x20\t>*_]*(?:system|assistant)[\x20\t*_]*:",
        rf"^{_H}*#{{1,6}}{_H}*(?:system|assistant)(?:{_H}+(?:prompt|message|instructions?))?{_H}*:?[\x20\t\r]*$",
        r"<\s*/?\s*(?:system|assistant|system_prompt|instructions)\s*>",
        r"</s>",
    ),
    "chat_token": (
        r"<\|\s*(?:im_start|im_end|im_sep|system|user|assistant|endoftext|eot_id|start_header_id"
        r"|end_header_id|begin_of_text)\s*\|>",
        r"\[/?INST\]|<</?SYS>>",
    ),
}
_PATTERNS = {rule: tuple(_rx(p) for p in sources) for rule, sources in _SOURCES.items()}

_ZERO_WIDTH = "\u200b-\u200f\u2060-\u2064\ufeff"
_BIDI = "\u202a-\u202e\u2066-\u2069"
_IN_WORD_RX = re.compile(f"[A-Za-z][{_ZERO_WIDTH}]+[A-Za-z]")
# ZWJ/ZWNJ (U+200C/D) only count inside ASCII words: elsewhere they build emoji and Indic/Persian words.
_STRAY_RX = re.compile("[\u200b\u200e\u200f\u2060-\u2064\ufeff]")
_BIDI_RX = re.compile(f"[{_BIDI}]")
_TAG_RX = re.compile("[\U000e0000-\U000e007f]")
_FLAG_EMOJI_RX = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")  # the one legitimate tag use
_STRIP = re.compile(f"[{_ZERO_WIDTH}{_BIDI}\u00ad\u034f\u180e\U000e0000-\U000e007f]")
# Latin look-alikes NFKC leaves alone (Cyrillic/Greek), folded so "ign\u043ere" still reads "ignore".
_LOOKALIKES = {
    "aeopcyxijsdg": (0x430, 0x435, 0x43E, 0x440, 0x441, 0x443, 0x445, 0x456, 0x458, 0x455, 0x501, 0x261),
    "oaiv": (0x3BF, 0x3B1, 0x3B9, 0x3BD),
    "ABEKMHOPCTX": (0x410, 0x412, 0x415, 0x41A, 0x41C, 0x41D, 0x41E, 0x420, 0x421, 0x422, 0x425),
    "ABEKMHOPTX": (0x391, 0x392, 0x395, 0x39A, 0x39C, 0x397, 0x39F, 0x3A1, 0x3A4, 0x3A7),
}
_CONFUSABLES = {cp: latin for k, cps in _LOOKALIKES.items() for latin, cp in zip(k, cps, strict=True)}
_B64_RX = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX_RX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){8,}(?![0-9A-Fa-f])")
_MAX_BLOBS = 64  # per encoding and level: bounds the work an adversarial document can force


def _escape(text: str, limit: int = 80) -> str:
    """Show invisible/control characters as ``\\uXXXX`` and keep the excerpt within ``limit``."""
    out = "".join(
        c if c.isprintable() else (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
        for c in text
    )
    return out if len(out) <= limit else out[: limit - 3] + "..."


def _window(text: str, match: re.Match[str], pad: int = 15) -> str:
    return text[max(0, match.start() - pad) : match.end() + pad]


def _normalize(text: str) -> str:
    """Strip invisibles first (so split words rejoin), then NFKC (fullwidth etc.), then fold look-alikes."""
    return unicodedata.normalize("NFKC", _STRIP.sub("", text)).translate(_CONFUSABLES)


def _hit(prefix: str, rule: str, excerpt: str, weight: float | None = None) -> Finding:
    return Finding(
        rule=prefix + rule, excerpt=_escape(excerpt), weight=WEIGHTS[rule] if weight is None else weight
    )


def _unicode_findings(text: str, prefix: str) -> list[Finding]:
    """One finding per kind of hidden character, with the surrounding text as evidence."""
    findings: list[Finding] = []
    body = text[1:] if text.startswith("\ufeff") else text  # a leading BOM is file-encoding noise
    if (m := _IN_WORD_RX.search(body)) is not None:
        findings.append(_hit(prefix, "invisible_char", _window(body, m)))
    elif (m := _STRAY_RX.search(body)) is not None:
        findings.append(_hit(prefix, "invisible_char", _window(body, m), INVISIBLE_STRAY))
    if (m := _BIDI_RX.search(text)) is not None:
        findings.append(_hit(prefix, "bidi_control", _window(text, m)))
    return findings


def _as_text(raw: bytes | None) -> str | None:
    """Decoded bytes count as a payload only if they are UTF-8 and mostly printable (not a hash or key)."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(c.isprintable() or c in "\n\r\t" for c in text)
    return text if printable >= 0.9 * len(text) else None


def _b64(run: str) -> bytes | None:
    if len(run) % 4:
        return None
    try:
        return base64.b64decode(run.translate(str.maketrans("-_", "+/")), validate=True)
    except (binascii.Error, ValueError):
        return None


def _decoded_findings(text: str, depth: int, prefix: str) -> list[Finding]:
    """Screen what encoded blobs decode to; a harmless decoded blob adds nothing."""
    findings: list[Finding] = []
    # bytes.fromhex cannot fail here: _HEX_RX only yields even-length runs of hex digits.
    for name, rx, decode in (("base64", _B64_RX, _b64), ("hex", _HEX_RX, bytes.fromhex)):
        for m in list(rx.finditer(text))[:_MAX_BLOBS]:
            if (decoded := _as_text(decode(m.group()))) is not None:
                findings += _scan(decoded, depth - 1, f"{prefix}{name}>")
    return findings


def _scan(text: str, depth: int, prefix: str) -> list[Finding]:
    text = _FLAG_EMOJI_RX.sub("", text)
    findings = _unicode_findings(text, prefix)
    tags = _TAG_RX.findall(text)
    if tags:
        hidden = "".join(chr(ord(c) - 0xE0000) for c in tags if 0xE0020 <= ord(c) <= 0xE007E)
        findings.append(_hit(prefix, "tag_chars", f"{len(tags)} tag chars: {hidden}"))
        findings += _scan(hidden, depth, f"{prefix}tag_chars>")  # ASCII out, so this cannot recurse again
    clean = _normalize(text)
    findings += [
        _hit(prefix, rule, m.group().strip())
        for rule, rxs in _PATTERNS.items()
        for rx in rxs
        for m in rx.finditer(clean)
    ]
    if depth > 0:
        findings += _decoded_findings(clean, depth, prefix)
    return findings


def screen(text: str, *, flag_at: float = 0.5, block_at: float = 1.0, max_decode_depth: int = 2) -> Screening:
    """Screen untrusted ``text``: ``block`` at ``score >= block_at``, ``flag`` at ``score >= flag_at``.

    Identical findings (same rule, same excerpt) count once, so a repeated phrase does not escalate.
    """
    if not 0 <= flag_at <= block_at:
        raise ValueError(f"need 0 <= flag_at <= block_at, got flag_at={flag_at}, block_at={block_at}")
    if max_decode_depth < 0:
        raise ValueError(f"max_decode_depth must be >= 0, got {max_decode_depth}")
    unique: dict[tuple[str, str], Finding] = {}
    for finding in _scan(text, max_decode_depth, ""):
        unique.setdefault((finding.rule, finding.excerpt.casefold()), finding)
    findings = tuple(unique.values())
    score = round(min(sum(f.weight for f in findings), SCORE_CAP), 3)
    verdict = Verdict.block if score >= block_at else Verdict.flag if score >= flag_at else Verdict.allow
    return Screening(verdict=verdict, score=score, findings=findings)
