"""Programme configuration: one JSON document, validated once at start-up."""

from memberflow.config.programme import ConfigError, Programme, load_programme

__all__ = ["ConfigError", "Programme", "load_programme"]
