"""Message templates: ``{field}`` placeholders, per locale, from the configuration."""

from __future__ import annotations


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def pick_locale(wanted: str | None, available: dict, default: str) -> str:
    if wanted in available:
        return wanted
    if wanted:
        language = wanted.split("-")[0]
        for locale in available:
            if locale.split("-")[0] == language:
                return locale
    return default if default in available else next(iter(available))


def render(texts: dict, fields: dict) -> dict:
    values = _Fields({k: "" if v is None else v for k, v in fields.items()})
    return {part: text.format_map(values) for part, text in texts.items()}
