"""Share of outputs that parse as JSON and validate against their schema."""
import json

import jsonschema


def evaluate(outputs, schema):
    valid = 0
    for text in outputs:
        try:
            jsonschema.validate(json.loads(text), schema)
            valid += 1
        except (ValueError, jsonschema.ValidationError):
            pass
    return {"schema_valid_rate": valid / len(outputs) if outputs else 0.0}
