"""The workflow's config against its JSON schema (workflow/schemas/config.schema.yaml), for
the Snakefile alone (it needs jsonschema, which the rules' environments do not have): numbers
written one way, and what the schema refuses said by key."""
from __future__ import annotations

import re

_NUMBER_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def normalise_numbers(config, schema: dict, root: dict | None = None):
    """The config (changed in place; returned) with every value the schema types as a number
    written as a float, and a whole number where it says integer: `8` and `8.0`, `[0, 20]`
    and `[0.0, 20.0]` are one setting, and a rule's params must not tell them apart
    (Snakemake reruns a job whose params' text changed). Text that reads as a number becomes
    that number too: YAML 1.1 reads `4e-3` (no dot) as a string, which the schema would
    refuse. (Values under anyOf/oneOf/allOf are left as they are: no number sits there.)"""
    root = root or schema
    if "$ref" in schema:  # "#/$defs/name"
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return normalise_numbers(config, target, root)
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "number" in types and "integer" not in types:
        if isinstance(config, int) and not isinstance(config, bool):
            return float(config)
        if isinstance(config, str) and _NUMBER_TEXT.fullmatch(config.strip()):
            return float(config)
    if "integer" in types and isinstance(config, float) and config.is_integer():
        return int(config)  # the schema takes 8.0 as an integer; range() would not
    if isinstance(config, dict):
        properties, others = schema.get("properties", {}), schema.get("additionalProperties")
        for key, value in config.items():
            sub = properties.get(key, others if isinstance(others, dict) else None)
            if sub is not None:
                config[key] = normalise_numbers(value, sub, root)
    elif isinstance(config, list) and isinstance(schema.get("items"), dict):
        config[:] = [normalise_numbers(value, schema["items"], root) for value in config]
    return config


def schema_errors(config: dict, schema: dict, most: int = 5) -> str:
    """What the schema refuses in the config, one line per problem named by its key (for a
    message in place of Snakemake's, which prints the whole schema after the first)."""
    import jsonschema

    errors = [leaf for error in jsonschema.Draft202012Validator(schema).iter_errors(config) for leaf in _leaves(error)]
    errors = sorted(errors, key=lambda e: [(0, p) if isinstance(p, int) else (1, str(p)) for p in e.absolute_path])
    lines = [f"  {'.'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors[:most]]
    more = [f"  ... and {len(errors) - most} more"] if len(errors) > most else []
    return "\n".join(["the config does not fit workflow/schemas/config.schema.yaml (config/README.md explains "
                      "every key):", *lines, *more])


def _leaves(error) -> list:
    """What a value fitting none of several forms (anyOf, oneOf) gets wrong: the failures
    inside the forms, less "is not of type" for the forms it plainly is not (a mapping
    meant as {category, keywords} is refused for its misspelt key, not for not being a
    list); the error itself where nothing else is left."""
    inner = [leaf for sub in error.context or [] for leaf in _leaves(sub)
             if not (leaf.validator in ("type", "anyOf", "oneOf")
                     and list(leaf.absolute_path) == list(error.absolute_path))]
    return inner or [error]
