#!/usr/bin/env python3
"""Validates JSON documents against imgpipe's message schemas.

usage: validate.py SCHEMA_DIR FILE... ; each FILE is named <type>.<anything>.json
where <type> picks SCHEMA_DIR/<type>.schema.json. Exit 1 on the first failure.
"""
import json
import pathlib
import sys

import jsonschema  # Debian: python3-jsonschema

schemas = pathlib.Path(sys.argv[1])
failed = 0
for name in sys.argv[2:]:
    path = pathlib.Path(name)
    kind = path.name.split(".")[0]
    schema = json.loads((schemas / f"{kind}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    try:
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
            json.loads(path.read_text()))
    except jsonschema.ValidationError as e:
        print(f"{path.name}: {e.message} at {list(e.absolute_path)}", file=sys.stderr)
        failed += 1
sys.exit(1 if failed else 0)
